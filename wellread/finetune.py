"""Supervised fine-tuning of any encoder (a student, a pre-trained student, the teacher) on a labeled task."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import cache, data, train
from .device import resolve, seed_everything
from .models import build_classifier, check_init
from .speed import latency_ms


@dataclass(frozen=True)
class FinetuneConfig(train.TrainConfig):
    init: str = "random"          # "random", a model folder (a pre-trained student, the teacher) or a hub id
    size: str = "tiny"            # the shape when init == "random"
    layers: int | None = None     # keep only the bottom `layers` of `init` (the truncated teacher)

    def __post_init__(self):
        super().__post_init__()
        if self.layers is not None and (not isinstance(self.layers, int) or self.layers < 1):
            raise ValueError(f"FinetuneConfig.layers={self.layers!r}: use None or a positive integer")


def hard_loss(outputs, labels):
    """Cross-entropy of the classifier's logits against the labels."""
    return F.cross_entropy(outputs.logits.float(), labels)


def keyed(config: FinetuneConfig) -> FinetuneConfig:
    """The config a fine-tuning stage is keyed by: the task in its canonical form, the precision resolved."""
    return replace(config, task=config.task.canonical(), precision=resolve(config.precision))


def finetune(config: FinetuneConfig, *, force: bool = False, quiet: bool = False, role: str = "finetune") -> Path:
    """Fine-tune `config.init` on the task -> runs/finetune/<key>/ (model, tokenizer, metrics).

    `role` ("finetune", "teacher" or "truncated"; a config with `layers` is the truncated teacher) names the stage in
    its progress bar and its budget fields in messages."""
    check_init(config.init)
    role = "truncated" if config.layers and role == "finetune" else role
    config = keyed(config)

    def build(work: Path) -> dict:
        train_split, validation, test = config.task.splits(config.seed)
        num_labels = train_split.features["label"].num_classes
        seed_everything(config.seed)  # the classifier head's initial weights
        model, tokenizer = build_classifier(config.init, config.size, config.layers, num_labels)
        name = {"teacher": "the teacher", "truncated": f"the teacher's bottom {config.layers} layers"}.get(role, (
            f"{config.size} (random init)" if config.init == "random" or Path(config.init).parent.name == "vocab"
            else f"{config.size} (pre-trained)"))  # never the init's folder name: a cache key
        model, curve = train.fit(model, tokenizer, data.inputs(train_split), torch.tensor(data.column(train_split, "label")),
                                 hard_loss, config, desc=f"fine-tune {name}", quiet=quiet, lr_field=f"{role}__lr")
        train.save_model(model, tokenizer, work)
        return {**train.scores(model, tokenizer, validation, test, max_len=config.task.max_len,
                               precision=config.precision),
                "train_examples": len(train_split), "curve": curve,
                "latency_ms": latency_ms(model, batch=1, seq_len=config.task.max_len, repeats=20,
                                         precision=config.precision)}
    return cache.stage("finetune", config, build, force=force)
