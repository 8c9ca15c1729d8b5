"""Distillation: the student learns the teacher's soft labels on unlabeled transfer text."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import cache
from .device import seed_everything
from .teacher import load_teacher_logits
from .finetune import build_classifier, count_params, evaluate, fit, load_splits, save_model


def soft_cross_entropy(student_logits, teacher_logits, temperature: float = 1.0):
    """-sum_k p_teacher(k) log p_student(k) at temperature T, averaged over the batch, times T^2.

    The paper uses T = 1. Scaling by T^2 keeps the gradient's size comparable across temperatures.
    """
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return -(p_teacher * log_p_student).sum(-1).mean() * temperature ** 2


def distill_loss(student_logits, teacher_logits, labels, temperature: float = 1.0, alpha: float = 0.0):
    """(1 - alpha) * soft cross-entropy + alpha * hard cross-entropy on the rows that have a label (>= 0)."""
    loss = soft_cross_entropy(student_logits, teacher_logits, temperature)
    labeled = labels >= 0
    if alpha > 0 and labeled.any():
        loss = (1 - alpha) * loss + alpha * F.cross_entropy(student_logits[labeled], labels[labeled])
    return loss


@dataclass(frozen=True)
class DistillConfig:
    logits: str                   # a folder from teacher.teacher_logits: transfer texts + teacher logits
    init: str = "random"          # "random" (D) or a pre-trained student folder (PD)
    size: str = "tiny"
    temperature: float = 1.0
    alpha: float = 0.0
    task: str = "rotten_tomatoes"  # for evaluation on validation/test
    source: str = "embedded"
    eval_examples: int | None = None
    epochs: float = 2.0
    lr: float = 5e-4
    batch_size: int = 32
    max_len: int = 64
    warmup_frac: float = 0.06
    weight_decay: float = 0.01
    bf16: bool = True
    seed: int = 0


def distill(config: DistillConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """Distil the teacher's logits into a student -> runs/distill/<key>/ (model, tokenizer, metrics)."""
    if config.temperature <= 0 or not 0 <= config.alpha <= 1:
        raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got T={config.temperature}, alpha={config.alpha}")

    def build(work: Path) -> dict:
        started = time.time()
        transfer = load_teacher_logits(config.logits)
        _, validation, test = load_splits(config.task, config.source, None, config.eval_examples, config.seed)
        teacher_logits = torch.tensor(list(transfer["teacher_logits"]))
        seed_everything(config.seed)
        model, tokenizer = build_classifier(config.init, config.size, num_labels=teacher_logits.shape[1])
        # Pack teacher logits and (possibly missing, -1) labels into one target tensor per example.
        targets = torch.cat([teacher_logits, torch.tensor(list(transfer["label"])).float()[:, None]], dim=1)

        def loss_fn(logits, target):
            return distill_loss(logits, target[:, :-1], target[:, -1].long(), config.temperature, config.alpha)

        model, curve = fit(model, tokenizer, list(transfer["text"]), targets, loss_fn, epochs=config.epochs,
                           lr=config.lr, batch_size=config.batch_size, max_len=config.max_len,
                           warmup_frac=config.warmup_frac, weight_decay=config.weight_decay, bf16=config.bf16,
                           seed=config.seed, desc=f"distil into {config.size}", quiet=quiet)
        save_model(model, tokenizer, work)
        val, tst = evaluate(model, tokenizer, validation, config.max_len), evaluate(model, tokenizer, test, config.max_len)
        return {"val_acc": val["acc"], "val_f1": val["f1"], "test_acc": tst["acc"], "test_f1": tst["f1"],
                "params": count_params(model), "transfer_examples": len(transfer), "curve": curve,
                "wall_s": round(time.time() - started, 2)}
    return cache.stage("distill", asdict(config), build, force=force)
