"""A task as a value: which labeled data, how much of it, and how long its inputs are. Stage configs hold
one, so its fields are part of every cache key built on it."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .loaders import check_source, load_task


@dataclass(frozen=True)
class Task:
    name: str = "rotten_tomatoes"
    source: str = "embedded"           # "embedded" (offline pack) or "hub"
    train_examples: int | None = None  # None: all of them
    eval_examples: int | None = None   # per split, validation and test
    max_len: int = 64                  # tokens per input

    def __post_init__(self):
        check_source(self.source)
        for name in ("train_examples", "eval_examples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"task {name}={value!r}: use a positive integer, or None for all of them")
        if not isinstance(self.max_len, int) or self.max_len < 8:
            raise ValueError(f"task max_len={self.max_len!r}: use an integer >= 8 (tokens per input)")

    def load(self):
        return load_task(self.name, source=self.source)

    def canonical(self) -> "Task":
        """Asking for at least every example means all of them: one cache key for both spellings."""
        splits = self.load()
        task = self
        if task.train_examples is not None and task.train_examples >= len(splits["train"]):
            task = replace(task, train_examples=None)
        if task.eval_examples is not None and task.eval_examples >= max(len(splits["validation"]), len(splits["test"])):
            task = replace(task, eval_examples=None)
        return task

    def splits(self, seed: int = 0):
        """(train, validation, test), each subsampled by a seeded, fixed choice to fit the budget.

        Never writes into the data pack (keep_in_memory), so a read-only pack shared by a teacher works."""
        splits = self.load()

        def take(ds, n):
            return ds if n is None or n >= len(ds) else ds.shuffle(seed=seed, keep_in_memory=True).select(
                range(n), keep_in_memory=True)
        return take(splits["train"], self.train_examples), take(splits["validation"], self.eval_examples), \
            take(splits["test"], self.eval_examples)
