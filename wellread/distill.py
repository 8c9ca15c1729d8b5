"""Distillation: the student learns the teacher's soft labels on unlabeled transfer text."""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import cache, data, train
from .device import resolve, seed_everything
from .finetune import build_classifier, check_init
from .speed import latency_ms
from .teacher import load_teacher_logits


def soft_cross_entropy(student_logits, teacher_logits, temperature: float = 1.0):
    """-sum_k p_teacher(k) log p_student(k) at temperature T, averaged over the batch, times T^2.

    The paper uses T = 1. Scaling by T^2 keeps the gradient's size comparable across temperatures.
    """
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return -(p_teacher * log_p_student).sum(-1).mean() * temperature ** 2


# The soft loss distillation trains with: the kit's, or, inside `soft_loss_from`, a learner's own that passed its check.
_soft_loss = contextvars.ContextVar("soft_loss", default=soft_cross_entropy)


@contextlib.contextmanager
def soft_loss_from(fn):
    """Distil with `fn(student_logits, teacher_logits, T)` as the soft loss inside this block (a notebook passes the
    learner's function once exercises.check_distill_loss has found it equal to soft_cross_entropy)."""
    token = _soft_loss.set(fn)
    try:
        yield
    finally:
        _soft_loss.reset(token)


def distill_loss(student_logits, teacher_logits, labels, temperature: float = 1.0, alpha: float = 0.0):
    """(1 - alpha) * soft cross-entropy + alpha * hard cross-entropy on the rows that have a label (>= 0)."""
    loss = _soft_loss.get()(student_logits, teacher_logits, temperature)
    labeled = labels >= 0
    if alpha > 0 and labeled.any():
        loss = (1 - alpha) * loss + alpha * F.cross_entropy(student_logits[labeled], labels[labeled])
    return loss


@dataclass(frozen=True)
class DistillConfig(train.TrainConfig):
    logits: str = ""              # a folder from teacher.teacher_logits: transfer texts + teacher logits
    init: str = "random"          # "random" (D) or a pre-trained student folder (PD)
    size: str = "tiny"
    temperature: float = 1.0
    alpha: float = 0.0
    epochs: float = 1.0           # one pass over the (large) transfer set
    warmup_frac: float = 0.06

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got T={self.temperature}, alpha={self.alpha}")


def distill(config: DistillConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """Distil the teacher's logits into a student -> runs/distill/<key>/ (model, tokenizer, metrics)."""
    if not config.logits:
        raise ValueError("DistillConfig.logits is empty: pass the folder teacher.teacher_logits returned")
    check_init(config.init)
    config = replace(config, task=config.task.canonical(), precision=resolve(config.precision))

    def build(work: Path) -> dict:
        transfer = load_teacher_logits(config.logits)
        _, validation, test = replace(config.task, train_examples=None).splits(config.seed)
        teacher_logits = torch.tensor(list(transfer["teacher_logits"]))
        seed_everything(config.seed)
        model, tokenizer = build_classifier(config.init, config.size, num_labels=teacher_logits.shape[1])
        # Pack teacher logits and (possibly missing, -1) labels into one target tensor per example.
        targets = torch.cat([teacher_logits, torch.tensor(list(transfer["label"])).float()[:, None]], dim=1)

        def loss_fn(logits, target):
            return distill_loss(logits, target[:, :-1], target[:, -1].long(), config.temperature, config.alpha)

        model, curve = train.fit(model, tokenizer, data.inputs(transfer), targets, loss_fn, config,
                                 desc=f"distil into {config.size}", quiet=quiet, lr_field="distill__lr")
        train.save_model(model, tokenizer, work)
        return {**train.scores(model, tokenizer, validation, test, max_len=config.task.max_len,
                               precision=config.precision),
                "transfer_examples": len(transfer), "curve": curve,
                "soft_loss": "the kit's" if _soft_loss.get() is soft_cross_entropy else "the learner's",
                "latency_ms": latency_ms(model, batch=1, seq_len=config.task.max_len, repeats=20,
                                         precision=config.precision)}
    return cache.stage("distill", config, build, force=force)
