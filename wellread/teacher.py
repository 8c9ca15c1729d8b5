"""The teacher: fine-tune a larger pre-trained encoder on the task, then record its soft labels."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from datasets import Dataset, load_from_disk
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from . import cache, data
from .finetune import FinetuneConfig, finetune, load_splits, predict_logits


def base_teacher(model: str = "embedded") -> str:
    """The encoder to fine-tune: "embedded" is MiniLM-L6-H384 from the offline data pack."""
    return str(data.teacher_dir()) if model == "embedded" else model


def train_teacher(model: str = "embedded", *, task="rotten_tomatoes", source="embedded", epochs=2.0, lr=5e-5,
                  train_examples=None, eval_examples=None, max_len=64, bf16=True, seed=0, force=False,
                  quiet=False) -> Path:
    """Fine-tune the teacher (a folder or hub id) on the task -> runs/finetune/<key>/."""
    config = FinetuneConfig(init=base_teacher(model), task=task, source=source, epochs=epochs, lr=lr,
                            train_examples=train_examples, eval_examples=eval_examples, max_len=max_len,
                            bf16=bf16, seed=seed)
    return finetune(config, force=force, quiet=quiet)


@dataclass(frozen=True)
class LogitsConfig:
    teacher: str                  # a fine-tuned teacher folder
    transfer: str = "movie"       # which unlabeled text: data.load_transfer(transfer)
    transfer_examples: int | None = None
    include_train: bool = True    # the task's training inputs join the transfer set (with their labels)
    task: str = "rotten_tomatoes"
    source: str = "embedded"
    train_examples: int | None = None
    max_len: int = 64
    bf16: bool = True
    seed: int = 0


def teacher_logits(config: LogitsConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """The teacher's logits over the transfer set, computed once -> runs/logits/<key>/transfer (a Dataset)."""
    def build(work: Path) -> dict:
        started = time.time()
        texts = list(data.load_transfer(config.transfer, source=config.source)["text"])[:config.transfer_examples]
        labels = [-1] * len(texts)  # unlabeled
        if config.include_train:
            train, _, _ = load_splits(config.task, config.source, config.train_examples, None, config.seed)
            texts, labels = texts + list(train["text"]), labels + list(train["label"])
        model = AutoModelForSequenceClassification.from_pretrained(config.teacher)
        tokenizer = AutoTokenizer.from_pretrained(config.teacher)
        if torch.cuda.is_available():
            model = model.cuda()
        logits = predict_logits(model, tokenizer, texts, max_len=config.max_len, quiet=quiet,
                                desc="teacher logits", bf16=config.bf16)
        transfer = Dataset.from_dict({"text": texts, "label": labels, "teacher_logits": logits.tolist()})
        with data.datasets_bars_off():
            transfer.save_to_disk(str(work / "transfer"))
        confidence = logits.softmax(-1).max(-1).values
        return {"examples": len(transfer), "mean_confidence": confidence.mean().item(),
                "wall_s": round(time.time() - started, 2)}
    return cache.stage("logits", asdict(config), build, force=force)


def load_teacher_logits(path: Path):
    """The transfer Dataset (text, label or -1, teacher_logits) written by `teacher_logits`."""
    return load_from_disk(str(Path(path) / "transfer"))
