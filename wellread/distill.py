"""Distillation: the student learns the teacher's soft labels on unlabeled transfer text."""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import cache, data, train
from .device import resolve, seed_everything
from .models import build_classifier, check_init
from .speed import latency_ms
from .teacher import load_teacher_logits


def soft_cross_entropy(student_logits, teacher_logits, temperature: float = 1.0):
    """-sum_k p_teacher(k) log p_student(k) at temperature T, averaged over the batch, times T^2.

    The paper uses T = 1. Scaling by T^2 keeps the gradient's size comparable across temperatures.
    """
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return -(p_teacher * log_p_student).sum(-1).mean() * temperature ** 2


def loss_id(fn=None) -> str:
    """A soft loss's identity for a cache key: "kit" (soft_cross_entropy or None) or "learner:<sha256 of its source>"."""
    return cache.function_id(fn, soft_cross_entropy)


@functools.cache  # asked at every training step: a function's signature is read once
def whole_loss(fn) -> bool:
    """Whether a learner's loss is the whole loss `(student, teacher, labels, T, alpha)` (notebook 4's exercise)
    rather than the soft part `(student, teacher, T)` (notebook 3's)."""
    try:
        return fn is not None and len(inspect.signature(fn).parameters) >= 5
    except (TypeError, ValueError):
        return False


def distill_loss(student_logits, teacher_logits, labels, temperature: float = 1.0, alpha: float = 0.0,
                 soft_loss=soft_cross_entropy):
    """(1 - alpha) * soft loss + alpha * hard cross-entropy on the rows that have a label (>= 0); a whole loss
    (`whole_loss`) computes all of it itself."""
    if whole_loss(soft_loss):
        return soft_loss(student_logits, teacher_logits, labels, temperature, alpha)
    loss = soft_loss(student_logits, teacher_logits, temperature)
    labeled = labels >= 0
    if alpha > 0 and labeled.any():
        loss = (1 - alpha) * loss + alpha * F.cross_entropy(student_logits[labeled], labels[labeled])
    return loss


# Below this the teacher's probabilities are one-hot in float32 and the soft loss is 0 on every example it agrees with.
MIN_TEMPERATURE = 0.05


@dataclass(frozen=True)
class DistillConfig(train.TrainConfig):
    logits: str = ""              # a folder from teacher.teacher_logits: transfer texts + teacher logits
    init: str = "random"          # "random" (D) or a pre-trained student folder (PD)
    size: str = "tiny"
    temperature: float = 1.0
    alpha: float = 0.0
    epochs: float = 1.0           # one pass over the (large) transfer set
    warmup_frac: float = 0.06
    soft_loss: str = "kit"        # whose soft loss trains the student: "kit", or a learner's function (loss_id)

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.temperature, (int, float)) or isinstance(self.temperature, bool) \
                or self.temperature < MIN_TEMPERATURE:
            raise ValueError(f"distill__temperature={self.temperature!r}: use a number >= {MIN_TEMPERATURE} (the paper "
                             "uses 1; below that the teacher's probabilities round to one-hot and the loss to 0)")
        if not isinstance(self.alpha, (int, float)) or not 0 <= self.alpha <= 1:
            raise ValueError(f"distill__alpha={self.alpha!r}: use a number in [0, 1]")


def check_soft_loss(config: DistillConfig, soft_loss) -> None:
    """Refuse a soft loss function that is not the one the config (and so the cache key) names."""
    if loss_id(soft_loss) != config.soft_loss:
        raise ValueError(f"distill__soft_loss={config.soft_loss!r} but the soft loss given is {loss_id(soft_loss)!r}: "
                         "pass the function with run(..., soft_loss=fn), which sets both")


def distill(config: DistillConfig, *, soft_loss=None, force: bool = False, quiet: bool = False) -> Path:
    """Distil the teacher's logits into a student -> runs/distill/<key>/ (model, tokenizer, metrics). `soft_loss`:
    the function config.soft_loss names (None: the kit's soft_cross_entropy)."""
    if not config.logits:
        raise ValueError("DistillConfig.logits is empty: pass the folder teacher.teacher_logits returned")
    check_init(config.init)
    check_soft_loss(config, soft_loss)
    soft_loss = soft_loss or soft_cross_entropy
    config = replace(config, task=config.task.canonical(), precision=resolve(config.precision))

    def build(work: Path) -> dict:
        transfer = load_teacher_logits(config.logits)
        _, validation, test = replace(config.task, train_examples=None).splits(config.seed)
        teacher_logits = torch.tensor(data.column(transfer, "teacher_logits"))
        seed_everything(config.seed)
        model, tokenizer = build_classifier(config.init, config.size, num_labels=teacher_logits.shape[1])
        # Pack teacher logits and (possibly missing, -1) labels into one target tensor per example.
        targets = torch.cat([teacher_logits, torch.tensor(data.column(transfer, "label")).float()[:, None]], dim=1)

        def loss_fn(outputs, target):
            return distill_loss(outputs.logits.float(), target[:, :-1], target[:, -1].long(), config.temperature,
                                config.alpha, soft_loss)

        model, curve = train.fit(model, tokenizer, data.inputs(transfer), targets, loss_fn, config,
                                 desc=f"distil into {config.size}", quiet=quiet, lr_field="distill__lr")
        train.save_model(model, tokenizer, work)
        return {**train.scores(model, tokenizer, validation, test, max_len=config.task.max_len,
                               precision=config.precision),
                "transfer_examples": len(transfer), "curve": curve,
                "soft_loss": config.soft_loss,
                "latency_ms": latency_ms(model, batch=1, seq_len=config.task.max_len, repeats=20,
                                         precision=config.precision)}
    return cache.stage("distill", config, build, force=force)
