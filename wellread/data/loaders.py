"""What the stages ask for: the labeled task, unlabeled transfer text and the pre-training corpus, from
the embedded pack (default, offline) or the hub; and `fetch`, which makes the whole pack ready."""
from __future__ import annotations

import time

import datasets
import pandas as pd

from . import pack, sources
from ..cache import cache_root
from ..network import require_hub
from .hub import HUB_TASKS, TASK_NAMES, hub_task_splits, hub_text

TRANSFER_NAMES = ["movie", "glosses"]
CORPUS_NAMES = ["general"]
HUB_CORPORA = ["wikitext-103-raw-v1", "wikitext-2-raw-v1"]
CORPUS_SOURCES = ("embedded", "hub")


def column(dataset: datasets.Dataset, name: str) -> list:
    """One column as a Python list, read as one Arrow column: `list(dataset[name])` reads it row by row, ~100x
    slower (1.8 s for the 105k transfer texts, in every notebook that keys a logits stage)."""
    return dataset.with_format("arrow")[name].to_pylist()


def check_source(source: str) -> None:
    if source not in CORPUS_SOURCES:
        raise ValueError(f"source must be 'embedded' (offline pack) or 'hub' (Hugging Face), got {source!r}")


def _task_embedded(quiet: bool = False) -> datasets.DatasetDict:
    return pack.built("rotten_tomatoes", lambda: sources.build_task(pack.ensure_files([pack.RT_FILE], quiet)))


def load_task(name: str = "rotten_tomatoes", source: str = "embedded") -> datasets.DatasetDict:
    """A labeled task: DatasetDict train/validation/test with text, [text_pair], label[, movie].

    Embedded: Rotten Tomatoes snippets split by movie (0 negative, 1 positive). Hub: one of hub.HUB_TASKS
    (where the hub hides test labels, its validation serves as test and validation is carved from train).
    Your own files: data.Task(source="files", train=...)."""
    check_source(source)
    if source == "embedded":
        if name != "rotten_tomatoes":
            raise ValueError(f"embedded task {name!r} does not exist; valid: 'rotten_tomatoes' "
                             f"(or source='hub' with one of {TASK_NAMES})")
        return _task_embedded()
    if name not in TASK_NAMES:
        raise ValueError(f"unknown hub task {name!r}; valid: {TASK_NAMES}")
    require_hub(f"the task {name!r}")
    return hub_task_splits(datasets.load_dataset(*HUB_TASKS[name].path), name)


def check_transfer(name: str, source: str = "embedded") -> None:
    """Refuse an unknown transfer set before anything expensive runs."""
    check_source(source)
    if name == "none":  # only the task's own training inputs
        return
    if source == "embedded" and name not in TRANSFER_NAMES:
        raise ValueError(f"embedded transfer set {name!r} does not exist; valid: {TRANSFER_NAMES}, 'none' (only the "
                         "task's training inputs) or a file of unlabeled inputs (.txt, .csv, .tsv, .json, .jsonl)")
    if source == "hub":
        require_hub(f"the transfer set {name!r}")


def load_transfer(name: str = "movie", source: str = "embedded") -> datasets.Dataset:
    """Unlabeled text for distillation, columns text, source (embedded sets exclude task validation/test text).

    Embedded: 'movie' (plot sentences + film dialogue, in-domain) or 'glosses' (WordNet, off-domain).
    Hub: 'movie' means imdb's 50k unlabeled reviews; any other name is a hub dataset with a text column."""
    check_transfer(name, source)
    if source == "hub":
        if name == "movie":
            return hub_text(datasets.load_dataset("imdb", split="unsupervised"), "imdb")
        return hub_text(datasets.load_dataset(name, split="train"), name)
    task = _task_embedded()
    if name == "movie":
        return pack.built("transfer-movie", lambda: sources.build_transfer_movie(
            pack.ensure_files([pack.RT_FILE, pack.DIALOG_FILE]), task))
    return pack.built("transfer-glosses", lambda: sources.build_transfer_glosses(
        pack.ensure_files(pack.WORDNET_FILES), task))


def check_corpus(name: str, source: str = "embedded") -> None:
    """Refuse an unknown or unreachable pre-training corpus before anything expensive runs."""
    check_source(source)
    if source == "hub":
        if name not in HUB_CORPORA:
            raise ValueError(f"hub corpus must be one of {HUB_CORPORA}, got {name!r}")
        require_hub(f"the pre-training corpus {name!r}")
    elif name not in CORPUS_NAMES:
        raise ValueError(f"embedded corpus {name!r} does not exist; valid: {CORPUS_NAMES}")


def load_corpus(name: str = "general", source: str = "embedded") -> datasets.Dataset:
    """General-English pre-training text, columns text, source (one paragraph or gloss per row).

    Embedded 'general': WordNet glosses, a Wikipedia sample, Lee news, convention speeches.
    Hub: 'wikitext-103-raw-v1' or 'wikitext-2-raw-v1' (train split, headings and blank lines dropped)."""
    check_corpus(name, source)
    if source == "hub":
        return hub_text(datasets.load_dataset("wikitext", name, split="train"), name)
    return pack.built("corpus-general", lambda: sources.build_corpus(
        pack.ensure_files(pack.WORDNET_FILES + [pack.WIKI_FILE, pack.LEE_FILE, pack.SPEECHES_FILE])))


def fetch(quiet: bool = False) -> dict:
    """Download, verify and build the whole embedded pack (idempotent); return and print counts."""
    start = time.time()
    pack.ensure_files(pack.pack_files(), quiet=quiet)  # teachers other than MiniLM come when a budget asks for them
    pack.teacher_dir()
    task, transfer, glosses, corpus = load_task(), load_transfer("movie"), load_transfer("glosses"), load_corpus()
    counts = {
        "task": {split: len(task[split]) for split in task},
        "transfer": len(transfer),
        "transfer_sources": pd.Series(column(transfer, "source")).value_counts().to_dict(),
        "glosses": len(glosses),
        "corpus": {**pd.Series(column(corpus, "source")).value_counts().to_dict(),
                   "words": sum(len(t.split()) for t in column(corpus, "text"))},
    }
    if not quiet:
        print(f"wellread data pack in {cache_root()} ({time.time() - start:.0f} s; every file and build verified)")
        print(f"  task rotten_tomatoes: {counts['task']}")
        print(f"  transfer movie: {counts['transfer']} {counts['transfer_sources']}; glosses: {counts['glosses']}")
        print(f"  corpus general: {counts['corpus']}")
        print(f"  teacher + tokenizer: {pack.teacher_dir()}")
        print("  other teachers, fetched when a budget asks for one: " + ", ".join(
            f"{name!r} {what}" for name, (_, _, what) in pack.TEACHERS.items() if name != "embedded"))
    return counts
