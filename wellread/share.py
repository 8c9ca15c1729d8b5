"""A prepared class: build every artifact the tour's notebooks need once (`prepare`), and pass them around as one
archive (`pack`, `unpack`) with a manifest of every file's sha256 and the kit's version, so a teacher prepares once
and a class (or a Binder image) starts ready. Nothing half-unpacked is ever read."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import tarfile
import time
import unicodedata
import uuid
from pathlib import Path

from tqdm.auto import tqdm

from . import __version__, cache
from .budget import get_budget
from .estimate import estimate
from .methods import METHODS, TRUNCATED
from .sizes import parse_size

PACK_FORMAT = 2  # 2: the manifest gives each file's size; .partial, .lock and pickled files are refused
SHARED_FOLDERS = ("pretrain", "finetune", "logits", "states", "distill", "pkd", "truncate", "vocab", "tokens",
                  "speed")  # runs/ folders shared
MANIFEST = "wellread-pack.json"


def _compatible(version: str) -> bool:
    """Cache keys are stable within a minor version: 0.2.x packs fit every 0.2.y kit."""
    return version.split(".")[:2] == __version__.split(".")[:2]


def prepare(budget: str = "classroom", students=("tiny",), *, quiet: bool = False) -> dict:
    """Run the tour's notebooks for each student (every stage they use lands in runs/), saying first how long it
    will take here; returns {student: seconds}."""
    from .lessons import TOUR
    from .tour import run_notebooks
    b = get_budget(budget)
    sizes = [parse_size(s) for s in students]
    guess = sum(estimate(size, method, b).seconds for size in sizes for method in METHODS if method != TRUNCATED.name)
    if not quiet:
        print(f"prepare: {len(TOUR)} notebooks x {len(sizes)} student(s) at the {b.name!r} budget; the students' own "
              f"training alone is estimated at {guess / 60:.0f} min here (the teacher, its logits and the latency grid "
              "come on top, once)", flush=True)
    took = {}
    with tqdm(total=len(sizes) * len(TOUR), desc="prepare", unit="notebook", disable=quiet) as bar:
        for size in sizes:
            started = time.time()
            for name in TOUR:
                bar.set_postfix(student=size.short, notebook=name)
                run_notebooks([name], budget=b.name, student=size.short, html=False, quiet=True,
                              out_dir=cache.runs_dir() / "prepare" / size.short.replace("/", "-"))
                bar.update(1)
            took[size.short] = round(time.time() - started)
    return took


# What a pack carries: the kinds of file finished stages write (weights, configs and records, datasets, tokenizers).
# Anything else, pickled objects above all, is refused: a pack is a file from a stranger.
PACKED_SUFFIXES = (".json", ".safetensors", ".arrow", ".txt")
SAFE_NAME = re.compile(r"[A-Za-z0-9._/-]+")
RECORDS = ("stage.json", "metrics.json")  # every finished stage folder holds both
UNRECORDED = ("vocab", "tokens")  # folders the kit writes outside cache.stage: no records
STALE_S = 3600  # a temporary folder or file older than this is a killed run's: removed at the next start


def pack_limit() -> int:
    """The most bytes an unpacked pack may hold: $WELLREAD_PACK_LIMIT_GB (default 20), checked before writing."""
    return int(float(os.environ.get("WELLREAD_PACK_LIMIT_GB") or 20) * 2 ** 30)


def printable(text) -> str:
    """A stranger's text made safe to print: control characters and bidirectional overrides shown as escapes."""
    return "".join(c if c.isprintable() and unicodedata.category(c) != "Cf" else c.encode("unicode_escape").decode()
                   for c in str(text))


def _not_packable(name: str) -> str | None:
    """Why a member path may not be in a pack (pack writes only finished stages' plain files), or None."""
    if not SAFE_NAME.fullmatch(name):
        return ("has characters outside [A-Za-z0-9._/-] (a control character, a bidirectional override or a "
                "look-alike slash)")
    outside = _outside(name)
    if outside:
        return outside
    if any(part.startswith(".") or part.endswith((".partial", ".lock")) or ".tmp-" in part for part in name.split("/")):
        return "is a work folder, a lock or a temporary file: a pack holds finished stages only"
    if not name.endswith(PACKED_SUFFIXES):
        return f"is not a kind of file a finished stage writes (valid: {', '.join(PACKED_SUFFIXES)})"
    return None


def _code_inside(head: bytes) -> str | None:
    """Why a file's first bytes say it could run code when loaded (pickled data, or a torch.save zip holding some)."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "is pickled data (it could run code when loaded)"
    if head[:4] == b"PK\x03\x04":
        return "is a zip archive, as torch.save writes (pickled data inside could run code)"
    return None


HEAD = 16  # bytes read from each file's start to tell what it holds


def _not_what_it_says(name: str, head: bytes, size: int) -> str | None:
    """Why a file's first bytes do not fit its kind (a .safetensors that is not one, pickled data in a .json), or
    None. Binary kinds are checked by their own header, since a safetensors length may begin 0x80 0x02 as pickled data
    does; every other kind must not look pickled or zipped."""
    if name.endswith(".safetensors"):
        length = int.from_bytes(head[:8], "little")
        if size < 10 or not 2 <= length <= size - 8 or head[8:9] != b"{":
            return "is not a safetensors file (it lacks the header length and JSON header safetensors begin with)"
        return None
    if name.endswith(".arrow"):
        if head[:4] != b"\xff\xff\xff\xff" and head[:6] != b"ARROW1":
            return "is not an Arrow file (it lacks the header Arrow streams and files begin with)"
        return None
    return _code_inside(head)


def _clean_stale(folder: Path, pattern: str) -> None:
    """Remove what a killed pack or unpack left in `folder` (older than an hour), saying so."""
    for leftover in folder.glob(pattern) if folder.is_dir() else []:
        try:
            if time.time() - leftover.stat().st_mtime > STALE_S:
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
                print(f"wellread: removed {leftover}, left by an interrupted pack or unpack", file=sys.stderr)
        except OSError:
            pass


def packed_files(runs: Path) -> list[Path]:
    """The files `pack` writes: those of finished stage folders (with their records) and the tokenizer caches."""
    out = []
    for stage in SHARED_FOLDERS:
        for entry in sorted((runs / stage).iterdir()) if (runs / stage).is_dir() else []:
            files = [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
            if entry.is_dir() and stage not in UNRECORDED and not all((entry / r).is_file() for r in RECORDS):
                continue  # unfinished
            out += [p for p in files if _not_packable(str(p.relative_to(runs).as_posix())) is None]
    return out


def pack(path, *, force: bool = False, quiet: bool = False) -> Path:
    """Write every finished stage under runs/ into one .tar.gz with a manifest (each file's size and sha256). An
    existing file is kept unless `force`."""
    runs, path = cache.runs_dir(), Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists: choose another name, or add --force (force=True) to replace it")
    _clean_stale(path.parent, f".{path.name}.tmp-*")
    files = packed_files(runs)
    if not files:
        raise ValueError(f"nothing to pack in {runs}: run `wellread prepare` (or the notebooks) first")
    for p in files:  # what unpack would refuse is never packed: the teacher hears it now, not the class later
        with open(p, "rb") as f:
            why = _not_what_it_says(p.name, f.read(HEAD), p.stat().st_size)
        if why:
            raise ValueError(f"{p} {why}: it was not written by the kit, so it is not packed; delete its folder "
                             f"({p.parent}) and run the notebook that builds it again")
    manifest = {"format": PACK_FORMAT, "kit_version": __version__, **cache.provenance(),
                "files": {p.relative_to(runs).as_posix(): {"sha256": cache.file_sha256(p), "size": p.stat().st_size}
                          for p in tqdm(files, desc="hashing", disable=quiet)}}
    # Weights are floats that gzip shrinks by ~13% at any level: level 1 packs in half the time of the default 9
    # (a smoke teacher pack, 141 MB: 5.7 s against 11.5) for a file 1% larger.
    with cache.atomic_path(path) as tmp, tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        body = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for p in tqdm(files, desc="packing", disable=quiet):
            tar.add(p, arcname=p.relative_to(runs).as_posix(), recursive=False)
    if not quiet:
        print(f"sha256 of {path.name}: {cache.file_sha256(path)} (publish it beside the file: `wellread unpack "
              f"{path.name} --expect <sha256>` then refuses any other)")
    return path


def _outside(name: str) -> str | None:
    """Why a pack member's path would land outside runs/<stage>/, or None."""
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", name):
        return "points outside runs/ (an absolute path or '..')"
    if len(parts) < 2 or parts[0] not in SHARED_FOLDERS:
        return f"is not inside one of runs/'s stage folders (valid: {list(SHARED_FOLDERS)})"
    return None


def _check_manifest(path: Path, manifest) -> dict:
    """A manifest is an object with format, kit_version and files: {member path: {"sha256": ..., "size": ...}}."""
    refuse = f"{path}: its {MANIFEST} "
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", v["sha256"])
            and isinstance(v.get("size"), int) and not isinstance(v.get("size"), bool) and v["size"] >= 0
            for v in files.values()):
        raise ValueError(refuse + "is malformed: expected an object with \"format\", \"kit_version\" and \"files\" "
                         "mapping each member's path to its sha256 (64 hex digits) and size in bytes: refusing the "
                         "pack; nothing was added to runs/")
    bad = next(((name, why) for name in files for why in [_not_packable(name)] if why), None)
    if bad:
        raise ValueError(refuse + f"lists {printable(bad[0])!r}, which {bad[1]}: refusing the pack; nothing was added "
                         "to runs/")
    folders = {"/".join(n.split("/")[:2]) for n in files if n.count("/") >= 2 and n.split("/")[0] not in UNRECORDED}
    unfinished = sorted(f for f in folders if not all(f"{f}/{r}" in files for r in RECORDS))
    if unfinished:
        raise ValueError(refuse + f"lists {unfinished[0]!r} without its {' and '.join(RECORDS)}: a pack holds finished "
                         "stages only: refusing the pack; nothing was added to runs/")
    total = sum(v["size"] for v in files.values())
    if total > pack_limit():
        raise ValueError(refuse + f"says it unpacks to {total / 2 ** 30:.1f} GiB, above the limit of "
                         f"{pack_limit() / 2 ** 30:.0f} GiB (WELLREAD_PACK_LIMIT_GB): refusing the pack before writing "
                         "anything")
    return files


def _check_members(path: Path, tar, files: dict) -> list:
    """Every member a plain file the manifest lists, at the size it states, before anything is written."""
    members, seen = [], set()
    for member in tar:
        name = member.name
        if name == MANIFEST:
            continue
        why = _not_packable(name)
        if why:
            raise ValueError(f"{path}: member {printable(name)!r} {why}: refusing the pack; nothing was added to runs/")
        if not member.isfile():
            kind = "link" if member.issym() or member.islnk() else "folder or device"
            raise ValueError(f"{path}: member {name!r} is a {kind}, not a plain file: refusing the pack; nothing was "
                             "added to runs/")
        if name not in files or name in seen:
            raise ValueError(f"{path}: member {name!r} is not in its manifest, or twice in the archive (tampered or "
                             "damaged): refusing the pack; nothing was added to runs/")
        if member.size != files[name]["size"]:
            raise ValueError(f"{path}: member {name!r} holds {member.size:,} bytes where its manifest says "
                             f"{files[name]['size']:,} (tampered or damaged): refusing the pack; nothing was added to runs/")
        with tar.extractfile(member) as source:  # read as the archive is walked: one pass, nothing written
            why = _not_what_it_says(name, source.read(HEAD), member.size)
        if why:
            raise ValueError(f"{path}: {name} {why}: refusing the pack; nothing was added to runs/")
        seen.add(name)
        members.append(member)
    missing = sorted(set(files) - seen)
    if missing:
        raise ValueError(f"{path}: {len(missing)} file(s) of its manifest are missing, e.g. {missing[0]}: refusing the "
                         "pack; nothing was added to runs/")
    return members


def _what_it_adds(files: dict, runs: Path) -> str:
    """One line: the artifacts a pack would add, by stage, with their sizes (those already here are kept)."""
    sizes = {}
    for name, entry in files.items():
        artifact = "/".join(name.split("/")[:2])
        sizes[artifact] = sizes.get(artifact, 0) + entry["size"]
    new = {a: size for a, size in sizes.items() if not (runs / a).exists()}
    by_stage = {}
    for artifact, size in new.items():
        count, total = by_stage.get(artifact.split("/")[0], (0, 0))
        by_stage[artifact.split("/")[0]] = (count + 1, total + size)
    parts = ", ".join(f"{stage} {n} ({total / 2 ** 20:,.1f} MiB)" for stage, (n, total) in sorted(by_stage.items()))
    kept = len(sizes) - len(new)
    return (f"it adds {len(new)} artifact(s), {sum(new.values()) / 2 ** 20:,.1f} MiB: {parts or 'nothing new'}"
            + (f"; {kept} already here are kept" if kept else ""))


def unpack(path, *, expect: str | None = None, quiet: bool = False) -> list[Path]:
    """Check a pack whole before writing anything (its sha256 if `expect`, format, kit version, every name, size and
    kind), then extract it into a temporary folder, check every file's bytes and sha256, and move each stage folder
    into runs/ in one rename; stages already there are kept. Nothing in it is ever unpickled or run."""
    path, runs = Path(path), cache.runs_dir()
    if not path.is_file():
        raise FileNotFoundError(f"no pack at {path}")
    _clean_stale(runs, ".unpack-*")
    if expect is not None:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", str(expect).strip()):
            raise ValueError(f"--expect {printable(expect)!r}: a sha256 is 64 hex digits, as `wellread pack` prints "
                             "it; nothing was added to runs/")
        digest = cache.file_sha256(path)
        if digest != str(expect).strip().lower():
            raise ValueError(f"{path} has sha256 {digest}, not the {printable(expect)} you expected: it is not the file "
                             "that was published; nothing was added to runs/")
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise ValueError(f"{path} is not a wellread pack (not a readable tar archive: {e})") from None
    with tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except (KeyError, ValueError, TypeError, tarfile.TarError):
            raise ValueError(f"{path} is not a wellread pack: it has no readable {MANIFEST}") from None
        if isinstance(manifest, dict) and (manifest.get("format") != PACK_FORMAT
                                           or not _compatible(str(manifest.get("kit_version", "")))):
            raise ValueError(f"{path} was packed by wellread {printable(manifest.get('kit_version'))} (pack format "
                             f"{printable(manifest.get('format'))}); this is wellread {__version__} (format "
                             f"{PACK_FORMAT}), whose cache keys differ: prepare the pack again with this version "
                             "(`wellread prepare`, then `wellread pack`)")
        files = _check_manifest(path, manifest)
        members = _check_members(path, tar, files)
        if not quiet:
            print(f"{path.name}: wellread {printable(manifest['kit_version'])}, made {printable(manifest.get('date'))} "
                  f"on {printable(manifest.get('machine'))}")
            print(_what_it_adds(files, runs))
        runs.mkdir(parents=True, exist_ok=True)
        staging = runs / f".unpack-{uuid.uuid4().hex[:8]}"
        try:
            for member in members:
                name, want = member.name, files[member.name]
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    head = source.read(HEAD)
                    why = _not_what_it_says(name, head, member.size)  # again, on the bytes written
                    if why:
                        raise ValueError(f"{path}: {name} {why}: refusing the pack; nothing was added to runs/")
                    out.write(head)
                    shutil.copyfileobj(source, out)
                if target.stat().st_size != want["size"] or cache.file_sha256(target) != want["sha256"]:
                    raise ValueError(f"{path}: {name} does not match its size and sha256 in the manifest (tampered or "
                                     "damaged): refusing the pack; nothing was added to runs/")
            added = []
            for folder in sorted({"/".join(n.split("/")[:2]) for n in files if n.count("/") >= 2}):
                final = runs / folder
                if not final.exists():
                    with cache.atomic_path(final, replace=False) as tmp:
                        (staging / folder).rename(tmp)
                    added.append(final)
            for name in (n for n in files if n.count("/") == 1):  # single files (tokens/<key>.safetensors)
                if not (runs / name).exists():
                    with cache.atomic_path(runs / name, replace=False) as tmp:
                        (staging / name).rename(tmp)
                    added.append(runs / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        print(f"unpacked {len(added)} artifact(s) from {path} into {runs}")
    return added
