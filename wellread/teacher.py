"""The teacher: fine-tune a larger pre-trained encoder on the task, then record its soft labels on the
transfer set (the unlabeled text distillation learns from)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets, load_from_disk
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from . import cache, data, train
from .data import Task
from .device import check_precision, resolve
from .finetune import FinetuneConfig, finetune


def base_teacher(model: str = "embedded") -> str:
    """The encoder to fine-tune: "embedded" is MiniLM-L6-H384 from the offline data pack."""
    return str(data.teacher_dir()) if model == "embedded" else model


def train_teacher(config: FinetuneConfig, *, force=False, quiet=False) -> Path:
    """Fine-tune the teacher (`config.init`: "embedded", a folder or a hub id) -> runs/finetune/<key>/."""
    return finetune(replace(config, init=base_teacher(config.init)), force=force, quiet=quiet, role="teacher")


def truncated_encoder(layers: int, model: str = "embedded", *, force: bool = False) -> Path:
    """The teacher's encoder as pre-trained at scale (before any fine-tuning), cut to its bottom `layers`: a
    well-read student of shape L{layers}/H384 (off the paper's grid) -> runs/truncate/<key>/ (model + tokenizer)."""
    base = base_teacher(model)
    available = AutoConfig.from_pretrained(base).num_hidden_layers
    if not isinstance(layers, int) or not 1 <= layers <= available:
        raise ValueError(f"cannot keep {layers!r} layers of the teacher: it has {available} (valid: 1..{available})")

    def build(work: Path) -> dict:
        encoder = AutoModel.from_pretrained(base, num_hidden_layers=layers)
        encoder.save_pretrained(work)
        AutoTokenizer.from_pretrained(base).save_pretrained(work)
        return {"layers": layers, "hidden": encoder.config.hidden_size, "params": train.count_params(encoder)}
    return cache.stage("truncate", {"base": base, "layers": layers}, build, force=force)


@dataclass(frozen=True)
class LogitsConfig:
    teacher: str = ""             # a fine-tuned teacher folder
    # "movie", "glosses" (embedded text), "none" (only the task's inputs), a file, or None: "movie" for a task of
    # single texts, "none" for sentence pairs
    transfer: str | None = None
    transfer_examples: int | None = None
    include_train: bool = True    # the task's training inputs join the transfer set (with their labels)
    task: Task = field(default_factory=Task)
    precision: str = "auto"
    seed: int = 0
    transfer_fingerprint: str = ""  # a transfer file's content hash (filled in): an edited file is a new set

    def __post_init__(self):
        n = self.transfer_examples
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"LogitsConfig.transfer_examples={n!r}: use a positive integer, or None for all")
        if self.transfer == "none" and not self.include_train:
            raise ValueError("transfer='none' with include_train=False leaves nothing to distil on")
        if self.transfer is None:
            pass
        elif data.is_transfer_file(self.transfer):
            path = str(Path(self.transfer).expanduser().resolve())
            object.__setattr__(self, "transfer", path)
            if not self.transfer_fingerprint:
                object.__setattr__(self, "transfer_fingerprint", data.file_fingerprint(path))
        elif self.task.source != "hub":  # hub names are checked, with the network, when a recipe starts
            data.check_transfer(self.transfer, "embedded")
        check_precision(self.precision)

    @property
    def chosen_transfer(self) -> str:
        """`transfer`, or when None the task's default: the movie text for single texts, its own inputs for pairs."""
        return self.transfer if self.transfer is not None else "none" if self.task.pairs else "movie"


def teacher_logits(config: LogitsConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """The teacher's logits over the transfer set, computed once -> runs/logits/<key>/transfer (a Dataset)."""
    if not config.teacher:
        raise ValueError("LogitsConfig.teacher is empty: pass the folder of a fine-tuned teacher")
    config = replace(config, transfer=config.chosen_transfer)
    config = replace(config, precision=resolve(config.precision))
    training_inputs = None
    if config.include_train and config.transfer != "none":  # labelled once (and timed on its own), reused by every set
        alone = replace(config, transfer="none", transfer_examples=None, transfer_fingerprint="")
        training_inputs = teacher_logits(alone, force=force, quiet=quiet)

    def build(work: Path) -> dict:
        if config.transfer == "none":  # only the task's training inputs, with their labels
            train_split, _, _ = config.task.splits(config.seed)
            return _save(_label(config, data.inputs(train_split), list(train_split["label"]), quiet), work)
        texts = data.transfer_inputs(config.transfer, config.task, config.transfer_examples)
        parts = [_label(config, texts, [-1] * len(texts), quiet)] if texts else []  # -1: unlabeled
        if training_inputs:
            parts.append(load_teacher_logits(training_inputs))
        return _save(concatenate_datasets(parts), work)
    return cache.stage("logits", config, build, force=force)


def _label(config: LogitsConfig, texts: list, labels: list, quiet: bool) -> Dataset:
    """The fine-tuned teacher's logits on `texts`, as a Dataset (text [, text_pair], label, teacher_logits)."""
    model = AutoModelForSequenceClassification.from_pretrained(config.teacher)
    tokenizer = AutoTokenizer.from_pretrained(config.teacher)
    if torch.cuda.is_available():
        model = model.cuda()
    logits = train.predict_logits(model, tokenizer, texts, max_len=config.task.max_len, quiet=quiet,
                                  desc="teacher logits", precision=config.precision)
    columns = {"text": [t[0] for t in texts], "text_pair": [t[1] for t in texts]} if config.task.pairs \
        else {"text": texts}
    return Dataset.from_dict({**columns, "label": labels, "teacher_logits": logits.tolist()})


def _save(transfer: Dataset, work: Path) -> dict:
    with data.datasets_bars_off():
        transfer.save_to_disk(str(work / "transfer"))
    confidence = torch.tensor(transfer["teacher_logits"]).softmax(-1).max(-1).values
    return {"examples": len(transfer), "mean_confidence": confidence.mean().item()}


def load_teacher_logits(path: Path):
    """The transfer Dataset (text, label or -1, teacher_logits) written by `teacher_logits`."""
    return load_from_disk(str(Path(path) / "transfer"))
