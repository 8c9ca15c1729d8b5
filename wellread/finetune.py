"""Supervised fine-tuning of any encoder (a student, a pre-trained student, the teacher) on a labeled task."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification

from . import cache, data, train
from .device import resolve, seed_everything
from .network import require_hub
from .sizes import parse_size
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


def check_init(init: str) -> None:
    """Refuse, within seconds, an init that cannot load: a missing folder, or a hub id neither cached nor reachable."""
    if init == "random" or Path(init).expanduser().exists():
        return
    if init.startswith((".", "/", "~")) or init.count("/") > 1 or "\\" in init:
        raise FileNotFoundError(f"init={init!r}: no such folder; valid: 'random', a model folder, or a hub id "
                                "like 'google/bert_uncased_L-4_H-256_A-4'")
    from huggingface_hub import try_to_load_from_cache
    if not isinstance(try_to_load_from_cache(init, "config.json"), str):  # not downloaded before: needs the hub
        require_hub(f"the model {init!r}")


def build_classifier(init: str, size: str = "tiny", layers: int | None = None, num_labels: int | None = None):
    """A `BertForSequenceClassification` and its tokenizer: from scratch ("random", or a tokenizer-only folder
    for random weights over that vocabulary) or from a checkpoint. `num_labels` None: the checkpoint's (else 2)."""
    if num_labels is not None:
        extra = {"num_labels": num_labels}
    else:
        extra, num_labels = {}, 2
    if init == "random":
        model = BertForSequenceClassification(parse_size(size, off_grid=True).bert_config(num_labels=num_labels))
        return model, data.load_tokenizer()
    if Path(init).is_dir() and not (Path(init) / "config.json").exists():
        if not (Path(init) / "tokenizer_config.json").exists():
            raise ValueError(f"init={init!r} holds neither a model (config.json) nor a tokenizer; valid: 'random', "
                             "a model folder, a tokenizer folder or a hub id")
        tokenizer = AutoTokenizer.from_pretrained(init)
        config = parse_size(size, off_grid=True).bert_config(num_labels=num_labels, vocab_size=len(tokenizer))
        return BertForSequenceClassification(config), tokenizer
    if layers:
        available = AutoConfig.from_pretrained(init).num_hidden_layers
        if not 1 <= layers <= available:
            raise ValueError(f"cannot keep {layers} layers of {init}: it has {available} (valid: 1..{available})")
        extra["num_hidden_layers"] = layers
    model = AutoModelForSequenceClassification.from_pretrained(init, **extra)
    has_tokenizer = not Path(init).is_dir() or (Path(init) / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(init) if has_tokenizer else data.load_tokenizer()
    return model, tokenizer


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
        name = {"teacher": "the teacher", "truncated": f"the teacher's bottom {config.layers} layers"}.get(
            role, Path(config.init).name if config.init != "random" else config.size)
        model, curve = train.fit(model, tokenizer, data.inputs(train_split), torch.tensor(list(train_split["label"])),
                                 F.cross_entropy, config, desc=f"fine-tune {name}", quiet=quiet, lr_field=f"{role}__lr")
        train.save_model(model, tokenizer, work)
        return {**train.scores(model, tokenizer, validation, test, max_len=config.task.max_len,
                               precision=config.precision),
                "train_examples": len(train_split), "curve": curve,
                "latency_ms": latency_ms(model, batch=1, seq_len=config.task.max_len, repeats=20,
                                         precision=config.precision)}
    return cache.stage("finetune", config, build, force=force)
