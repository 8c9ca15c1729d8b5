"""A task as a value: which labeled data (the embedded split, a hub task, or your own files), how much of it,
and how long its inputs are. Stage configs hold one, so it is part of every cache key built on it: for files,
their content hash, so editing a file invalidates every stage built on it."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from .. import checks
from ..sizes import MAX_POSITIONS
from .files import SUFFIXES, _decode, load_labeled_files, read_table
from .hub import HUB_TASKS
from .loaders import column, load_task, load_transfer
from .sources import normalise

TASK_SOURCES = ("embedded", "hub", "files")


@dataclass(frozen=True)
class Task:
    name: str = "rotten_tomatoes"      # embedded: rotten_tomatoes; hub: a HUB_TASKS name; files: a label for them
    source: str = "embedded"           # "embedded" (offline pack), "hub" or "files"
    train_examples: int | None = None  # None: all of them
    eval_examples: int | None = None   # per split, validation and test
    max_len: int = 64                  # tokens per input (a pair shares them)
    # your own files (source="files"): a missing validation or test split is carved from train (10% each)
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    drop_duplicates: bool = False
    fingerprint: str = ""              # sha256 of the files' bytes, filled in when the task is made

    def __post_init__(self):
        if self.source not in TASK_SOURCES:
            raise ValueError(f"task source={self.source!r}; valid: {list(TASK_SOURCES)}")
        for name in ("train_examples", "eval_examples"):
            value = getattr(self, name)
            checks.whole(value, f"task {name}", none="all of them")
        checks.whole(self.max_len, "task max_len", 8, MAX_POSITIONS,
                     why=f"tokens per input; the students and the teacher have {MAX_POSITIONS} positions")
        if self.source == "files":
            if not self.train:
                raise ValueError("a task from files needs train=<a CSV, TSV, JSON or JSONL file>")
            paths = {k: str(Path(v).expanduser().resolve()) for k in ("train", "validation", "test")
                     if (v := getattr(self, k))}
            for key, path in paths.items():
                object.__setattr__(self, key, path)
            if not self.fingerprint:
                object.__setattr__(self, "fingerprint", _files_sha256(tuple(paths.values())))
            self.load()  # read and check the files now: every problem is reported before any training
        elif self.source == "hub" and self.name not in HUB_TASKS:
            raise ValueError(f"unknown hub task {self.name!r}; valid: {sorted(HUB_TASKS)}")
        elif self.source == "embedded" and self.name != "rotten_tomatoes":
            raise ValueError(f"embedded task {self.name!r} does not exist; valid: 'rotten_tomatoes' "
                             f"(or source='hub' with one of {sorted(HUB_TASKS)}, or your own files)")

    @classmethod
    def parse(cls, spec, **options) -> "Task":
        """A task from what a user types: a Task, 'rotten_tomatoes' (embedded), a hub name ('glue/sst2'), or a
        file path (with `validation=`, `test=`, `text_column=`, `text_pair_column=`, `label_column=`)."""
        if isinstance(spec, Task):
            return replace(spec, **options) if options else spec
        spec = str(spec)
        if Path(spec).expanduser().suffix.lower() in SUFFIXES or Path(spec).expanduser().exists():
            return cls(name=Path(spec).stem, source="files", train=spec, **options)
        if spec in HUB_TASKS:  # rotten_tomatoes is embedded unless source="hub" is asked for
            return cls(name=spec, **{"source": "embedded" if spec == "rotten_tomatoes" else "hub", **options})
        raise ValueError(f"task {spec!r}: not a file (.csv, .tsv, .json, .jsonl) nor a known task; valid tasks: "
                         f"{sorted(HUB_TASKS)} (rotten_tomatoes is embedded, the others come from the hub)")

    def load(self):
        """The task's DatasetDict train/validation/test: text, [text_pair], label (a ClassLabel)."""
        if self.source == "files":
            return _load_files(self.train, self.validation, self.test, self.text_column, self.text_pair_column,
                               self.label_column, self.drop_duplicates, self.fingerprint)
        return load_task(self.name, source=self.source)

    @property
    def pairs(self) -> bool:
        return "text_pair" in self.load()["train"].column_names

    @property
    def label_names(self) -> list[str]:
        return self.load()["train"].features["label"].names

    def canonical(self) -> "Task":
        """Asking for at least every example means all of them: one cache key for both spellings."""
        splits = self.load()
        task = self
        if task.train_examples is not None and task.train_examples >= len(splits["train"]):
            task = replace(task, train_examples=None)
        if task.eval_examples is not None and task.eval_examples >= max(len(splits["validation"]), len(splits["test"])):
            task = replace(task, eval_examples=None)
        return task

    def class_table(self, seed: int = 0) -> str:
        """What the kit built from the task, as it will train on it: each class's count in each split."""
        names = self.label_names
        counts = [Counter(column(split, "label")) for split in self.splits(seed)]
        where = (self.train if self.source == "files" else self.source) + (", sentence pairs" if self.pairs else "")
        from_column = f", from column {self.label_column!r}" if self.source == "files" else ""
        width = max(8, *(len(n) for n in names)) + 2
        lines = [f"task {self.name!r} ({where}): {len(names)} classes{from_column}",
                 f"  {'class':<{width}}{'train':>8}{'validation':>12}{'test':>8}"]
        lines += [f"  {name:<{width}}{counts[0][i]:>8}{counts[1][i]:>12}{counts[2][i]:>8}"
                  for i, name in enumerate(names)]
        return "\n".join(lines)

    def splits(self, seed: int = 0):
        """(train, validation, test), each subsampled by a seeded, fixed choice to fit the budget.

        Never writes into the data pack (keep_in_memory), so a read-only pack shared by a teacher works."""
        splits = self.load()

        def take(ds, n):
            return ds if n is None or n >= len(ds) else ds.shuffle(seed=seed, keep_in_memory=True).select(
                range(n), keep_in_memory=True)
        return take(splits["train"], self.train_examples), take(splits["validation"], self.eval_examples), \
            take(splits["test"], self.eval_examples)


_shown = set()


def show_class_table(task: Task, seed: int = 0) -> None:
    """Print what the kit built from a task (its class table), once per task and process."""
    if (task, seed) not in _shown:
        _shown.add((task, seed))
        print(task.class_table(seed), flush=True)


def inputs(dataset) -> list:
    """A split's model inputs: its texts, or (text, pair) tuples for a sentence-pair task."""
    if "text_pair" in dataset.column_names:
        return list(zip(column(dataset, "text"), column(dataset, "text_pair")))
    return column(dataset, "text")


def _files_sha256(paths: tuple, what: str = "labeled file") -> str:
    digest = hashlib.sha256()
    for path in paths:
        if Path(path).is_dir():
            raise ValueError(f"{path} is a folder; name a {what} in it (.csv, .tsv, .json, .jsonl)")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@lru_cache(maxsize=8)
def _load_files(train, validation, test, text_column, text_pair_column, label_column, drop_duplicates, fingerprint):
    # `fingerprint` is part of the cache key: an edited file is read again
    return load_labeled_files(train, validation, test, text_column=text_column, text_pair_column=text_pair_column,
                              label_column=label_column, drop_duplicates=drop_duplicates)


# ---------------------------------------------------------------------------------------------------
# The transfer set: unlabeled inputs the teacher labels for distillation

EMBEDDED_TRANSFER = ("movie", "glosses")


def is_transfer_file(transfer: str) -> bool:
    return transfer not in (*EMBEDDED_TRANSFER, "none") and (
        Path(transfer).suffix.lower() in (*SUFFIXES, ".txt") or Path(transfer).expanduser().exists())


def file_fingerprint(path, what: str = "transfer file") -> str:
    return _files_sha256((str(path),), what)


def _key(item) -> str:
    return "\t".join(normalise(t) for t in item) if isinstance(item, tuple) else normalise(item)


def _read_transfer_file(path: str, task: Task) -> list:
    if not Path(path).read_bytes().strip():
        raise ValueError(f"{path}: the transfer file is empty or blank; valid: one input per line (.txt) or a table "
                         f"with the task's text column {task.text_column!r}, or transfer='none' (CLI: --transfer none)")
    if Path(path).suffix.lower() == ".txt":
        if task.pairs:
            raise ValueError(f"{path}: a plain-text file holds single texts, but {task.name!r} is a sentence-pair "
                             f"task; use a CSV/TSV/JSON file with columns {task.text_column!r} and "
                             f"{task.text_pair_column!r}")
        return [line.strip() for line in _decode(Path(path)).splitlines() if line.strip()]
    df = read_table(path)
    columns = [task.text_column] + ([task.text_pair_column or "text_pair"] if task.pairs else [])
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} for the transfer set of {task.name!r}; available "
                         f"columns: {list(df.columns)} (the transfer file uses the task's text column names)")
    values = [df[c].fillna("").astype(str).str.strip() for c in columns]
    rows = list(zip(*values)) if task.pairs else list(values[0])
    rows = [r for r in rows if (all(r) if task.pairs else r)]
    if not rows:
        raise ValueError(f"{path}: column(s) {columns} are blank in every row: the transfer file holds no inputs; "
                         "fill them, or use transfer='none' (CLI: --transfer none)")
    return rows


def transfer_inputs(transfer: str, task: Task, limit: int | None = None) -> list:
    """Unlabeled inputs to distil on (texts, or (text, pair) tuples), with every input that also appears in the
    task's validation or test split removed (the leak check), at most `limit` of them."""
    if transfer == "none":
        return []
    if is_transfer_file(transfer):
        rows = _read_transfer_file(transfer, task)
    else:
        if task.pairs:
            raise ValueError(f"{task.name!r} is a sentence-pair task: the embedded transfer text {transfer!r} has "
                             "single texts; use transfer='none' (the task's own training pairs) or a file of pairs")
        rows = column(load_transfer(transfer, source=task.source if task.source != "files" else "embedded"), "text")
    splits = task.load()
    held = {_key(x) for split in ("validation", "test") for x in inputs(splits[split])}
    kept = [r for r in rows if _key(r) not in held][:limit]
    if rows and not kept:
        raise ValueError(f"{transfer}: every one of its {len(rows)} inputs is also in the task's validation or test "
                         "split (removed so as not to leak them): nothing is left to distil on; use other text, or "
                         "transfer='none' (CLI: --transfer none)")
    return kept
