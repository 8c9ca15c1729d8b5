"""Hub datasets mapped onto the kit's train/validation/test splits and its columns text, [text_pair], label."""
from __future__ import annotations

from dataclasses import dataclass

import datasets

from .sources import SPLIT_SEED


@dataclass(frozen=True)
class HubTask:
    path: tuple                  # load_dataset's arguments
    text: str                    # the hub's column for the first text
    pair: str | None = None      # ...and for the second, in a sentence-pair task
    test: str | None = None      # a split whose labels are public; None: the hub hides them (GLUE)
    validation: str | None = None


HUB_TASKS = {
    "rotten_tomatoes": HubTask(("rotten_tomatoes",), "text", test="test", validation="validation"),
    "imdb": HubTask(("imdb",), "text", test="test"),
    "glue/sst2": HubTask(("glue", "sst2"), "sentence", validation="validation"),
    "glue/mnli": HubTask(("glue", "mnli"), "premise", "hypothesis", validation="validation_matched"),
    "glue/rte": HubTask(("glue", "rte"), "sentence1", "sentence2", validation="validation"),
}
TASK_NAMES = sorted(HUB_TASKS)


def hub_task_splits(raw: datasets.DatasetDict, name: str, seed: int = SPLIT_SEED) -> datasets.DatasetDict:
    """Map a hub task to train/validation/test with columns text, [text_pair], label.

    Where the hub hides the test labels (GLUE), its validation split becomes our test and a validation set of
    the same size is carved from train (seeded); where it has no validation split, 10% of train is carved."""
    if name not in HUB_TASKS:
        raise ValueError(f"unknown hub task {name!r}; valid: {TASK_NAMES}")
    spec = HUB_TASKS[name]

    def tidy(ds):
        columns = {spec.text: "text", **({spec.pair: "text_pair"} if spec.pair else {})}
        ds = ds.rename_columns({k: v for k, v in columns.items() if k != v})
        return ds.select_columns(["text", *(["text_pair"] if spec.pair else []), "label"])

    if spec.test and spec.validation:
        return datasets.DatasetDict({"train": tidy(raw["train"]), "validation": tidy(raw[spec.validation]),
                                     "test": tidy(raw[spec.test])})
    test = tidy(raw[spec.test] if spec.test else raw[spec.validation])
    carve = len(raw[spec.validation]) if not spec.test else max(1, len(raw["train"]) // 10)
    carved = tidy(raw["train"]).train_test_split(test_size=carve, seed=seed)
    return datasets.DatasetDict({"train": carved["train"], "validation": carved["test"], "test": test})


def hub_text(raw: datasets.Dataset, source: str, text_column: str = "text") -> datasets.Dataset:
    """Keep one text column (renamed to text), drop empty lines and wikitext headings, add `source`."""
    if text_column not in raw.column_names:
        raise ValueError(f"column {text_column!r} not in the hub dataset; available: {raw.column_names}")
    ds = raw.select_columns([text_column]).rename_column(text_column, "text") if text_column != "text" \
        else raw.select_columns(["text"])
    ds = ds.filter(lambda t: bool(t.strip()) and not t.strip().startswith("="), input_columns="text")
    return ds.map(lambda t: {"text": t.strip(), "source": source}, input_columns="text")
