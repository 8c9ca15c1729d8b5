"""Your own labeled files (CSV, TSV, JSON, JSON lines) read strictly: every problem is an error that names
the file, the row or column, and what is valid, before any training starts."""
from __future__ import annotations

import csv
import io
import random
import re
from pathlib import Path

import datasets
import pandas as pd

from .sources import SPLIT_SEED, normalise

SUFFIXES = (".csv", ".tsv", ".tab", ".json", ".jsonl")
_INTEGER = re.compile(r"-?\d+")


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path}: the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8 "
                         "(e.g. iconv -f latin1 -t utf-8)") from None


def read_table(path) -> pd.DataFrame:
    """A user's table as strings. TSV is read literally (a quote is just a character: no silent multi-line
    texts); CSV uses standard quoting; JSON may be records or lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labeled file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {list(SUFFIXES)}")
    text = _decode(path)
    try:
        if suffix == ".csv":
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        elif suffix in (".tsv", ".tab"):
            df = pd.read_csv(io.StringIO(text), sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
        else:
            lines = suffix == ".jsonl" or not text.lstrip().startswith("[")
            df = pd.read_json(io.StringIO(text), lines=lines, dtype=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: cannot be read as {suffix[1:].upper()} ({e})") from None
    if len(df) == 0:
        raise ValueError(f"{path}: no rows below the header line {text.splitlines()[0]!r}")
    return df


def _column(df: pd.DataFrame, path, name: str, first_line: str) -> pd.Series:
    if name not in df.columns:
        raise ValueError(f"{path}: missing column {name!r}; available columns: {list(df.columns)} (pass "
                         f"text_column= / label_column=). If the file has no header line, add one; its first "
                         f"line is {first_line!r}")
    values = df[name].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip())
    empty = [i + 1 for i, v in enumerate(values) if not v]
    if empty:
        raise ValueError(f"{path}: column {name!r} is empty in row(s) {empty[:5]} (counting data rows from 1); "
                         "fill or remove them")
    return values


def _labels(values: list[str], path) -> tuple[list[str], dict]:
    """(class names, value -> id): integers 0..k-1 stay themselves, other integers are ranked, strings sorted."""
    floats = [v for v in values if not _INTEGER.fullmatch(v) and re.fullmatch(r"-?\d*\.\d+", v)]
    if floats:
        raise ValueError(f"{path}: label {floats[0]!r} is a number with a fraction; labels must be classes "
                         "(strings or integers), not scores")
    distinct = sorted(set(values))
    if all(_INTEGER.fullmatch(v) for v in distinct):
        numbers = sorted(int(v) for v in distinct)
        if numbers == list(range(len(numbers))):
            return [str(n) for n in numbers], {str(n): n for n in numbers}
        return [str(n) for n in numbers], {str(n): i for i, n in enumerate(numbers)}
    return distinct, {v: i for i, v in enumerate(distinct)}


def _keys(table: pd.DataFrame) -> pd.Series:
    """Each row's input, normalised (text, and pair where there is one): what counts as the same input."""
    return table["text"].map(normalise) + ("\t" + table["text_pair"].map(normalise) if "text_pair" in table else "")


def _duplicates(table: pd.DataFrame) -> dict:
    """{row index: first row index} for inputs seen earlier in the table."""
    seen, repeats = {}, {}
    for i, key in enumerate(_keys(table)):
        if key in seen:
            repeats[i] = seen[key]
        else:
            seen[key] = i
    return repeats


def load_labeled_files(train, validation=None, test=None, text_column: str = "text", label_column: str = "label",
                       seed: int = SPLIT_SEED, *, text_pair_column: str | None = None,
                       drop_duplicates: bool = False) -> datasets.DatasetDict:
    """Your own CSV/TSV/JSON(L) files -> DatasetDict train/validation/test with text, [text_pair], label (ClassLabel).

    A missing validation or test split takes 10% of train each (seeded). String labels become sorted class
    names; integer labels 0..k-1 stay as they are, other integers are ranked. A repeated input is an error
    (it would be trained on twice, or tested on after training on it) unless `drop_duplicates`."""
    tables, paths = {}, {}
    for split, path in (("train", train), ("validation", validation), ("test", test)):
        if path is None:
            continue
        df = read_table(path)
        first_line = Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines()[0]
        texts = _column(df, path, text_column, first_line)
        if pd.to_numeric(texts, errors="coerce").notna().all():
            raise ValueError(f"{path}: the text column {text_column!r} holds only numbers; is it the right column? "
                             f"available columns: {list(df.columns)}")
        table = {"text": texts}
        if text_pair_column:
            table["text_pair"] = _column(df, path, text_pair_column, first_line)
        tables[split] = pd.DataFrame({**table, "label": _column(df, path, label_column, first_line)})
        paths[split] = path
    names, to_id = _labels(tables["train"]["label"].tolist(), train)
    if len(names) < 2:
        raise ValueError(f"{train}: every row has the label {names[0]!r}; a classifier needs at least two classes")
    for split, table in tables.items():
        unknown = sorted(set(table["label"]) - set(to_id))
        if unknown:
            raise ValueError(f"{paths[split]}: label(s) {unknown[:5]} do not occur in the training file {train}; "
                             f"valid: {names}")
        repeats = _duplicates(table)
        if repeats and not drop_duplicates:
            row, first = next(iter(repeats.items()))
            raise ValueError(f"{paths[split]}: {len(repeats)} repeated input(s), e.g. data row {row + 1} repeats row "
                             f"{first + 1} ({table['text'].iloc[row][:60]!r}); remove them or pass "
                             "drop_duplicates=True (CLI: --drop-duplicates)")
        tables[split] = table.drop(table.index[list(repeats)]).reset_index(drop=True)
    order = list(range(len(tables["train"])))
    random.Random(seed).shuffle(order)
    n_carve = len(order) // 10
    if n_carve == 0 and len(tables) < 3:
        raise ValueError(f"{train}: {len(order)} rows is too few to carve validation/test (10% each); "
                         "pass validation= and test= files, or use at least 10 rows")
    for split in ("validation", "test"):
        if split not in tables:
            tables[split], order = tables["train"].iloc[order[:n_carve]], order[n_carve:]
    tables["train"] = tables["train"].iloc[sorted(order)]
    held = pd.concat([tables["validation"], tables["test"]])
    leaked = set(_keys(tables["train"])) & set(_keys(held))
    if leaked:
        if not drop_duplicates:
            raise ValueError(f"{train}: {len(leaked)} training input(s) also appear in validation or test (e.g. "
                             f"{sorted(leaked)[0][:60]!r}): the scores would be inflated; remove them or pass "
                             "drop_duplicates=True (CLI: --drop-duplicates) to drop them from train")
        tables["train"] = tables["train"][~_keys(tables["train"]).isin(leaked).to_numpy()]
    columns = {"text": datasets.Value("string"), **({"text_pair": datasets.Value("string")} if text_pair_column else {}),
               "label": datasets.ClassLabel(names=names)}
    return datasets.DatasetDict({split: datasets.Dataset.from_dict(
        {**{c: tables[split][c].tolist() for c in columns if c != "label"},
         "label": [to_id[v] for v in tables[split]["label"].tolist()]},
        features=datasets.Features(columns)) for split in ("train", "validation", "test")})

