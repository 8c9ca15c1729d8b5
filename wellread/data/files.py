"""Your own labeled files (CSV, TSV, JSON, JSON lines) read strictly: every problem is an error that names
the file, the row or column, and what is valid, before any training starts."""
from __future__ import annotations

import csv
import io
import json
import random
import re
import warnings
from collections import Counter
from pathlib import Path

import datasets
import pandas as pd

from .sources import SPLIT_SEED, normalise

SUFFIXES = (".csv", ".tsv", ".tab", ".json", ".jsonl")
_INTEGER = re.compile(r"-?\d+")
# How spreadsheets and pandas write a missing value: as a label it would become a class of its own
MISSING = ("nan", "none", "null", "na", "n/a", "<na>")
JSON_SHAPES = ('a list of records [{"text": ..., "label": ...}, ...], a dict of equal-length columns '
               '{"text": [...], "label": [...]}, or JSON lines (one {"text": ..., "label": ...} per line)')


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
    texts); CSV uses standard quoting; JSON may be records, columns or lines (JSON_SHAPES)."""
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
            df = _read_json(path, text, suffix)
    except pd.errors.ParserError as e:
        raise ValueError(f"{path}: cannot be read as {suffix[1:].upper()} ({str(e).strip()}); a text holding the "
                         f"separator needs quotes (CSV), or the row has a column too many") from None
    if len(df) == 0:
        raise ValueError(f"{path}: no rows below the header line {text.splitlines()[0]!r}")
    return df


def _read_json(path: Path, text: str, suffix: str) -> pd.DataFrame:
    """One of JSON_SHAPES as a table; anything else is refused with the shape expected and the line."""
    if suffix == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
                raise ValueError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg}); expected "
                                 f"{JSON_SHAPES}") from None
        else:
            return _json_table(path, document)
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {number} is not a JSON record ({e.msg}, column {e.colno}); JSON lines "
                             'hold one object per line, like {"text": "...", "label": "..."}') from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {number} holds a JSON {type(record).__name__}, not an object; JSON lines "
                             'hold one object per line, like {"text": "...", "label": "..."}')
        records.append(record)
    return pd.DataFrame(records)


def _json_table(path: Path, document) -> pd.DataFrame:
    if isinstance(document, list):
        wrong = next((i for i, item in enumerate(document) if not isinstance(item, dict)), None)
        if wrong is not None:
            raise ValueError(f"{path}: item {wrong + 1} of the list is a JSON {type(document[wrong]).__name__}, not "
                             f"an object (line 1 opens a list); expected {JSON_SHAPES}")
        return pd.DataFrame(document)
    if isinstance(document, dict) and document and all(isinstance(v, (list, dict)) for v in document.values()):
        lengths = {name: len(values) for name, values in document.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{path}: the columns have different lengths {lengths}; a dict of columns needs one "
                             "value per row in every column")
        if all(isinstance(v, list) for v in document.values()):
            return pd.DataFrame(document)
        if all(isinstance(v, dict) for v in document.values()):  # pandas' to_json(): {column: {row: value}}
            return pd.DataFrame(document)
    kind = "object of single values (one record?)" if isinstance(document, dict) else type(document).__name__
    raise ValueError(f"{path}: line 1 holds a JSON {kind}; expected {JSON_SHAPES}")


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


def _rows(values, wanted) -> list[int]:
    """Data rows (from 1) whose value is one of `wanted`."""
    return [i + 1 for i, v in enumerate(values) if v in wanted]


def _check_labels(df: pd.DataFrame, values: pd.Series, path, label_column: str, text_columns: list,
                  training: bool) -> None:
    """Refuse a label column that would silently change the classes: missing-value spellings, one class spelt
    two ways, or (in the training file) a column of texts."""
    if label_column in text_columns:
        raise ValueError(f"{path}: the label column {label_column!r} is also a text column; valid label columns: "
                         f"{[c for c in df.columns if c not in text_columns]}")
    missing = sorted({v for v in values if v.lower() in MISSING})
    if missing:
        rows = _rows(values, missing)
        raise ValueError(f"{path}: column {label_column!r} holds {missing} in data row(s) {rows[:5]} (counting from 1)"
                         f": a missing value, not a class; fill or remove those rows (if it is a real class, name it "
                         "otherwise)")
    spellings = {}
    for v in sorted(set(values)):
        spellings.setdefault(v.casefold(), []).append(v)
    twice = next((s for s in spellings.values() if len(s) > 1), None)
    if twice:
        where = "; ".join(f"{v!r} in data row(s) {_rows(values, [v])[:3]}" for v in twice)
        raise ValueError(f"{path}: column {label_column!r} spells one class {len(twice)} ways, differing only by case "
                         f"({where}); write each class one way")
    distinct = len(spellings)
    if training and distinct > max(2, len(values) // 2):
        raise ValueError(f"{path}: column {label_column!r} has {distinct} different values in {len(values)} rows: it "
                         "looks like text, not labels; a label column holds a few classes, each on many rows "
                         f"(columns: {list(df.columns)})")
    padded = [v for v in df[label_column] if isinstance(v, str) and v != v.strip()]
    if padded:
        warnings.warn(f"{path}: column {label_column!r}: the spaces around {len(padded)} label(s) were stripped "
                      f"(e.g. {padded[0]!r} is read as {padded[0].strip()!r})", stacklevel=3)


def unknown_rows(texts: list, tokenizer) -> list[int]:
    """Data rows (from 1) whose text the tokenizer reads as nothing but [UNK] (or nothing at all)."""
    unknown = {tokenizer.unk_token_id}
    rows = []
    for start in range(0, len(texts), 1000):
        ids = tokenizer(texts[start:start + 1000], add_special_tokens=False)["input_ids"]
        rows += [start + i + 1 for i, row in enumerate(ids) if set(row) <= unknown]
    return rows


def _check_words(texts: pd.Series, path, text_column: str) -> None:
    from .pack import load_tokenizer
    rows = unknown_rows(texts.tolist(), load_tokenizer())
    if len(rows) > len(texts) / 2:
        raise ValueError(f"{path}: {len(rows)} of {len(texts)} texts in column {text_column!r} (e.g. data row(s) "
                         f"{rows[:5]}: {texts.iloc[rows[0] - 1][:40]!r}) are nothing but [UNK] to the kit's WordPiece "
                         "vocabulary (English, uncased): the model would see no words; valid: text in words the "
                         "vocabulary knows (emoji and most non-Latin scripts are unknown to it)")


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
        _check_words(texts, path, text_column)
        table = {"text": texts}
        if text_pair_column:
            table["text_pair"] = _column(df, path, text_pair_column, first_line)
        labels = _column(df, path, label_column, first_line)
        _check_labels(df, labels, path, label_column, [text_column, text_pair_column], split == "train")
        tables[split] = pd.DataFrame({**table, "label": labels})
        paths[split] = path
    names, to_id = _labels(tables["train"]["label"].tolist(), train)
    if len(names) < 2:
        raise ValueError(f"{train}: every row has the label {names[0]!r}; a classifier needs at least two classes")
    for split, table in tables.items():
        unknown = sorted(set(table["label"]) - set(to_id))
        if unknown:
            cased = [f"{u!r} is {n!r} in another case" for u in unknown for n in names if u.casefold() == n.casefold()]
            cased += [f"{u!r} is {n!r} with other zero-padding" for u in unknown for n in names
                      if str(u).isdigit() and str(n).isdigit() and int(u) == int(n)]
            raise ValueError(f"{paths[split]}: label(s) {unknown[:5]} do not occur in the training file {train}"
                             f"{' (' + '; '.join(cased[:3]) + ')' if cased else ''}; valid: {names}")
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
    _check_every_split(tables, paths, train, names, to_id)
    columns = {"text": datasets.Value("string"), **({"text_pair": datasets.Value("string")} if text_pair_column else {}),
               "label": datasets.ClassLabel(names=names)}
    return datasets.DatasetDict({split: datasets.Dataset.from_dict(
        {**{c: tables[split][c].tolist() for c in columns if c != "label"},
         "label": [to_id[v] for v in tables[split]["label"].tolist()]},
        features=datasets.Features(columns)) for split in ("train", "validation", "test")})


def _check_every_split(tables: dict, paths: dict, train, names: list, to_id: dict) -> None:
    """A class absent from a split cannot be scored there (and makes F1 meaningless): refuse it, naming the class."""
    counts = {split: Counter(to_id[v] for v in table["label"]) for split, table in tables.items()}
    for split in ("train", "validation", "test"):
        absent = [n for i, n in enumerate(names) if not counts[split][i]]
        if absent:
            where = paths.get(split) or f"{train} (its {split} split is carved from it: 10%, seeded)"
            total = {n: sum(c[names.index(n)] for c in counts.values()) for n in absent}
            raise ValueError(f"{where}: the {split} split has no example of class(es) {absent[:5]} ({total} in all "
                             "splits): every class needs examples in train, validation and test; add rows of it (a "
                             "carved split takes 10% of train), or remove the class")
