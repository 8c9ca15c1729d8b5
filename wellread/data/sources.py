"""The embedded sources, cleaned: Rotten Tomatoes snippets split by movie (the task), movie plots and
dialogue (in-domain transfer text), WordNet glosses, and a general-English corpus (Wikipedia, news,
speeches, glosses). Pure functions of the extracted files; pack.py builds and caches their output."""
from __future__ import annotations

import bz2
import html
import io
import json
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import datasets
import pandas as pd

from .pack import DIALOG_FILE, LEE_FILE, RT_FILE, SPEECHES_FILE, WIKI_FILE, WORDNET_FILES

SPLIT_SEED = 20190823  # fixed: the movie split and every shuffle must be the same on every machine
LABEL_NAMES = ["negative", "positive"]
MIN_TRANSFER_WORDS = 3  # shorter utterances ("forget it.") carry almost no signal for distillation


# ----------------------------------------------------------------------------- text cleaning

def normalise(text: str) -> str:
    """Lowercase and collapse whitespace: the key for de-duplication and the leak check."""
    return " ".join(str(text).lower().split())


def split_sentences(paragraph: str) -> list[str]:
    """Naive sentence splitter: break after . ! ? when an upper-case letter or digit follows."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])", paragraph) if s.strip()]


def _strip_nested(text: str, opening: str, closing: str) -> str:
    # remove innermost pairs repeatedly, so nested templates/tables disappear from the inside out
    pattern = re.compile(re.escape(opening) + r"(?:(?!" + re.escape(opening) + r"|" + re.escape(closing)
                         + r").)*" + re.escape(closing), re.S)
    while True:
        text, n = pattern.subn("", text)
        if n == 0:
            return text


def _unlink(match) -> str:
    target, _, label = match.group(1).partition("|")
    if ":" in target.split("|")[0] and not target.startswith(":"):  # File:, Category:, interwiki
        return ""
    return (label or target).split("|")[-1]


def clean_wikitext(text: str) -> list[str]:
    """Wiki markup -> prose paragraphs: drop templates, tables, refs, files, lists and headings."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<ref[^>]*/>", "", text)
    text = re.sub(r"<ref[^>]*>.*?</ref>", "", text, flags=re.S)
    text = re.sub(r"<(math|gallery|timeline|source|syntaxhighlight)[^>]*>.*?</\1>", "", text, flags=re.S)
    text = _strip_nested(text, "{{", "}}")
    text = _strip_nested(text, "{|", "|}")
    link = re.compile(r"\[\[([^\[\]]*)\]\]")
    while link.search(text):  # innermost first: links inside file captions
        text = link.sub(_unlink, text)
    text = re.sub(r"\[https?://\S+\s([^\]]*)\]", r"\1", text)
    text = re.sub(r"\[https?://\S+\]", "", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)  # the XML parser decoded one level; entities like &eta; remain
    paragraphs = []
    for line in text.split("\n"):
        line = " ".join(line.split())
        if not line or line[0] in "=*#:;|!{}" or line.startswith("__"):
            continue
        line = re.sub(r"\(\s*[,;]?\s*\)", "", line).replace(" ,", ",").replace(" .", ".")
        if len(line.split()) >= 10 and line[-1] in ".!?\"'":
            paragraphs.append(line)
    return paragraphs


_STAGE = re.compile(r"\((?:[^()]*?)(?:applause|cheer|laugh|boo|chuckl|chant|mic\b|inaudible|music|video|"
                    r"shout|audience|gavel|crosstalk|sounds?)(?:[^()]*)\)", re.I)
_SPEAKER = re.compile(r"^[A-Z][A-Z .,'\-]+:\s*")


def clean_speech(speech: str) -> list[str]:
    """Convention speech transcript -> paragraphs without stage directions or speaker labels."""
    paragraphs = []
    for line in speech.split("\n"):
        if line.startswith("AUDIENCE"):
            continue
        line = _STAGE.sub("", _SPEAKER.sub("", line))
        line = re.sub(r"—(\s*—)+", "—", " ".join(re.sub(r"\s+([,.;:!?])", r"\1", line).split()))
        if len(line.split()) >= 5:
            paragraphs.append(line)
    return paragraphs


# ----------------------------------------------------------------------------- readers

def _read_rotten_tomatoes(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(bz2.decompress(path.read_bytes())))


def _read_wordnet(paths: list[Path]) -> list[str]:
    """One text per synset: '<first lemma>: <gloss>; "<example>"', straight from data.<pos>."""
    texts = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("  ") or " | " not in line:  # licence header lines start with 2 spaces
                continue
            fields, gloss = line.split(" | ", 1)
            lemma = fields.split()[4].replace("_", " ")
            lemma = re.sub(r"\([a-z]+\)$", "", lemma)  # adjective markers like (a), (p)
            texts.append(f"{lemma}: {gloss.strip()}")
    return texts


def _read_wiki(path: Path) -> list[str]:
    paragraphs = []
    for _, element in ET.iterparse(io.BytesIO(bz2.decompress(path.read_bytes()))):
        if not element.tag.endswith("}page"):
            continue
        namespace = element.find("{*}ns")
        text = element.find("{*}revision/{*}text")
        if namespace is not None and namespace.text == "0" and text is not None and text.text \
                and not text.text.lstrip().upper().startswith("#REDIRECT"):
            paragraphs.extend(clean_wikitext(text.text))
        element.clear()
    return paragraphs


def _read_speeches(path: Path) -> list[str]:
    return [p for party in json.loads(path.read_text(encoding="utf-8"))
            for speech in party["speeches"] for p in clean_speech(speech)]


def _dedupe_rows(rows: list[dict], drop: set = frozenset()) -> list[dict]:
    seen, kept = set(drop), []
    for row in rows:
        key = normalise(row["text"])
        if key and key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def _shuffled(rows: list, seed: int = SPLIT_SEED) -> list:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows


# ----------------------------------------------------------------------------- builders

def split_by_movie(movie_sizes: dict, fractions=(0.8, 0.1, 0.1), seed: int = SPLIT_SEED) -> dict:
    """Assign whole movies to train/validation/test so that row counts come close to `fractions`."""
    movies = _shuffled(sorted(movie_sizes), seed)
    total, running, split_of = sum(movie_sizes.values()), 0, {}
    bounds = [fractions[0] * total, (fractions[0] + fractions[1]) * total]
    for movie in movies:
        split_of[movie] = "train" if running < bounds[0] else "validation" if running < bounds[1] else "test"
        running += movie_sizes[movie]
    return split_of


def build_task(files: dict) -> datasets.DatasetDict:
    df = _read_rotten_tomatoes(files[RT_FILE])
    df = df[df["category"].isin(["fresh", "rotten"])].dropna(subset=["text", "movie_name"])
    df = df.assign(label=(df["category"] == "fresh").astype(int), key=df["text"].map(normalise))
    # a text with two labels, or quoted under two movies, cannot be trusted nor split cleanly
    groups = df.groupby("key").agg(labels=("label", "nunique"), movies=("movie_name", "nunique"))
    ambiguous = groups.index[(groups["labels"] > 1) | (groups["movies"] > 1)]
    df = df[~df["key"].isin(ambiguous)].drop_duplicates("key")
    split_of = split_by_movie(df.groupby("movie_name").size().to_dict())
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=LABEL_NAMES),
                                  "movie": datasets.Value("string")})
    splits = {}
    for split in ("train", "validation", "test"):
        part = df[df["movie_name"].map(split_of) == split]
        rows = _shuffled(zip(part["text"], part["label"], part["movie_name"]))
        splits[split] = datasets.Dataset.from_dict(
            {"text": [r[0] for r in rows], "label": [int(r[1]) for r in rows], "movie": [r[2] for r in rows]},
            features=features)
    return datasets.DatasetDict(splits)


def _held_out(task: datasets.DatasetDict) -> tuple[set, set]:
    texts = {normalise(t) for split in ("validation", "test") for t in task[split]["text"]}
    movies = {m for split in ("validation", "test") for m in task[split]["movie"]}
    return texts, movies


def _text_dataset(rows: list[dict]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "source": [r["source"] for r in rows]})


def build_transfer_movie(files: dict, task: datasets.DatasetDict) -> datasets.Dataset:
    held_texts, held_movies = _held_out(task)
    df = _read_rotten_tomatoes(files[RT_FILE])
    # plots of validation/test movies stay out too: the student must not read about test movies
    plots = df[(df["category"] == "plot") & ~df["movie_name"].isin(held_movies)]["text"].dropna()
    rows = [{"text": s, "source": "rt_plot"} for p in plots for s in split_sentences(p)]
    dialog = pd.read_csv(files[DIALOG_FILE], usecols=["statement", "reply"])
    for column in ("statement", "reply"):
        rows += [{"text": " ".join(str(t).split()), "source": "movie_dialog"} for t in dialog[column].dropna()]
    rows = [r for r in rows if len(r["text"].split()) >= MIN_TRANSFER_WORDS]
    return _text_dataset(_shuffled(_dedupe_rows(rows, drop=held_texts)))


def build_transfer_glosses(files: dict, task: datasets.DatasetDict) -> datasets.Dataset:
    held_texts, _ = _held_out(task)
    rows = [{"text": t, "source": "wordnet_gloss"} for t in _read_wordnet([files[f] for f in WORDNET_FILES])]
    return _text_dataset(_shuffled(_dedupe_rows(rows, drop=held_texts)))


def build_corpus(files: dict) -> datasets.Dataset:
    rows = [{"text": t, "source": "wordnet"} for t in _read_wordnet([files[f] for f in WORDNET_FILES])]
    rows += [{"text": t, "source": "wikipedia"} for t in _read_wiki(files[WIKI_FILE])]
    rows += [{"text": " ".join(t.split()), "source": "lee_news"}
             for t in files[LEE_FILE].read_text(encoding="utf-8").splitlines() if t.strip()]
    rows += [{"text": t, "source": "speeches"} for t in _read_speeches(files[SPEECHES_FILE])]
    return _text_dataset(_shuffled(_dedupe_rows(rows)))
