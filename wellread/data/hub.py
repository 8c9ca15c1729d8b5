"""Hub datasets mapped onto the kit's train/validation/test splits and text columns."""
from __future__ import annotations

import datasets

from .sources import SPLIT_SEED

TASK_NAMES = ["rotten_tomatoes", "glue/sst2"]


def hub_task_splits(raw: datasets.DatasetDict, name: str, seed: int = SPLIT_SEED) -> datasets.DatasetDict:
    """Map a hub task to train/validation/test with columns text,label.

    glue/sst2 hides its test labels, so its validation becomes our test and a validation set of the
    same size is carved from train (seeded)."""
    if name == "rotten_tomatoes":
        return datasets.DatasetDict({s: raw[s].select_columns(["text", "label"])
                                     for s in ("train", "validation", "test")})
    if name == "glue/sst2":
        def tidy(ds):
            return ds.rename_column("sentence", "text").select_columns(["text", "label"])
        carved = tidy(raw["train"]).train_test_split(test_size=len(raw["validation"]), seed=seed)
        return datasets.DatasetDict({"train": carved["train"], "validation": carved["test"],
                                     "test": tidy(raw["validation"])})
    raise ValueError(f"unknown hub task {name!r}; valid: {TASK_NAMES}")


def hub_text(raw: datasets.Dataset, source: str, text_column: str = "text") -> datasets.Dataset:
    """Keep one text column (renamed to text), drop empty lines and wikitext headings, add `source`."""
    if text_column not in raw.column_names:
        raise ValueError(f"column {text_column!r} not in the hub dataset; available: {raw.column_names}")
    ds = raw.select_columns([text_column]).rename_column(text_column, "text") if text_column != "text" \
        else raw.select_columns(["text"])
    ds = ds.filter(lambda t: bool(t.strip()) and not t.strip().startswith("="), input_columns="text")
    return ds.map(lambda t: {"text": t.strip(), "source": source}, input_columns="text")
