"""A prepared class: build every artifact the tour's notebooks need once (`prepare`), and pass them around as one
archive (`pack`, `unpack`) with a manifest of every file's sha256 and the kit's version, so a teacher prepares once
and a class (or a Binder image) starts ready. Nothing half-unpacked is ever read."""
from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import time
import uuid
from pathlib import Path

from tqdm.auto import tqdm

from . import __version__, cache
from .budget import get_budget
from .estimate import estimate
from .methods import METHODS, TRUNCATED
from .sizes import parse_size

PACK_FORMAT = 1
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


def pack(path, *, quiet: bool = False) -> Path:
    """Write every finished stage artifact under runs/ into one .tar.gz with a manifest (sha256 of every file)."""
    runs = cache.runs_dir()
    files = sorted(p for stage in SHARED_FOLDERS if (runs / stage).is_dir() for p in (runs / stage).rglob("*")
                   if p.is_file() and not any(part.endswith((".partial", ".lock")) or part.startswith(".")
                                              for part in p.relative_to(runs).parts))
    if not files:
        raise ValueError(f"nothing to pack in {runs}: run `wellread prepare` (or the notebooks) first")
    manifest = {"format": PACK_FORMAT, "kit_version": __version__, **cache.provenance(),
                "files": {str(p.relative_to(runs)): cache.file_sha256(p) for p in tqdm(files, desc="hashing", disable=quiet)}}
    path = Path(path)
    with cache.atomic_path(path) as tmp, tarfile.open(tmp, "w:gz") as tar:
        body = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for p in tqdm(files, desc="packing", disable=quiet):
            tar.add(p, arcname=str(p.relative_to(runs)), recursive=False)
    return path


def _outside(name: str) -> str | None:
    """Why a pack member's path would land outside runs/<stage>/, or None."""
    parts = Path(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", name):
        return "points outside runs/ (an absolute path or '..')"
    if len(parts) < 2 or parts[0] not in SHARED_FOLDERS:
        return f"is not inside one of runs/'s stage folders (valid: {list(SHARED_FOLDERS)})"
    return None


def _check_manifest(path: Path, manifest) -> None:
    """A manifest is an object with format, kit_version and files: {member path inside runs/: its sha256}."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)
                                              for v in files.values()):
        raise ValueError(f"{path}: its {MANIFEST} is malformed: expected an object with \"format\", \"kit_version\" "
                         "and \"files\" mapping each member's path to its sha256 (64 hex digits): refusing the pack; "
                         "nothing was added to runs/")
    bad = next(((name, why) for name in files for why in [_outside(name)] if why), None)
    if bad:
        raise ValueError(f"{path}: its {MANIFEST} lists {bad[0]!r}, which {bad[1]}: refusing the pack; nothing was "
                         "added to runs/")


def unpack(path, *, quiet: bool = False) -> list[Path]:
    """Check a pack (format, kit version, every file's sha256, nothing outside runs/), then move each stage folder
    into runs/ in one rename; stages already there are kept. Returns the stage folders added."""
    path, runs = Path(path), cache.runs_dir()
    if not path.is_file():
        raise FileNotFoundError(f"no pack at {path}")
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise ValueError(f"{path} is not a wellread pack (not a readable tar archive: {e})") from None
    with tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except (KeyError, ValueError, TypeError):
            raise ValueError(f"{path} is not a wellread pack: it has no readable {MANIFEST}") from None
        _check_manifest(path, manifest)
        if manifest.get("format") != PACK_FORMAT or not _compatible(str(manifest.get("kit_version", ""))):
            raise ValueError(f"{path} was packed by wellread {manifest.get('kit_version')} (pack format "
                             f"{manifest.get('format')}); this is wellread {__version__} (format {PACK_FORMAT}), whose "
                             f"cache keys differ: prepare the pack again with this version (`wellread prepare`, "
                             f"then `wellread pack`)")
        staging = runs / f".unpack-{uuid.uuid4().hex[:8]}"
        try:
            seen = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                name = member.name
                outside = _outside(name)
                if outside:
                    raise ValueError(f"{path}: member {name!r} {outside}: refusing the pack; nothing was added to "
                                     "runs/")
                if not member.isfile():
                    kind = "link" if member.issym() or member.islnk() else "folder or device"
                    raise ValueError(f"{path}: member {name!r} is a {kind}, not a plain file: refusing the pack; "
                                     "nothing was added to runs/")
                if name not in manifest["files"]:
                    raise ValueError(f"{path}: member {name!r} is not in its manifest (tampered or damaged): "
                                     "refusing the pack; nothing was added to runs/")
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                if cache.file_sha256(target) != manifest["files"][name]:
                    raise ValueError(f"{path}: {name} does not match its sha256 in the manifest (tampered or "
                                     "damaged): refusing the pack; nothing was added to runs/")
                seen.add(name)
            missing = sorted(set(manifest["files"]) - seen)
            if missing:
                raise ValueError(f"{path}: {len(missing)} file(s) of its manifest are missing, e.g. {missing[0]}: "
                                 "refusing the pack; nothing was added to runs/")
            added = []
            for folder in sorted({Path(n).parts[0] + "/" + Path(n).parts[1] for n in seen if len(Path(n).parts) > 2}):
                final = runs / folder
                if not final.exists():
                    with cache.atomic_path(final, replace=False) as tmp:
                        (staging / folder).rename(tmp)
                    added.append(final)
            for name in (n for n in seen if len(Path(n).parts) == 2):  # single files (tokens/<key>.pt)
                if not (runs / name).exists():
                    with cache.atomic_path(runs / name, replace=False) as tmp:
                        (staging / name).rename(tmp)
                    added.append(runs / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        print(f"unpacked {len(added)} artifact(s) from {path} (wellread {manifest['kit_version']}, made "
              f"{manifest.get('date')} on {manifest.get('machine')}) into {runs}")
    return added
