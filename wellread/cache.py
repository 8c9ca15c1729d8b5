"""Where the kit keeps things, and how it writes them: one cache root, atomic writes, and the stage cache
runs/<stage>/<config hash>/ that one process builds (others wait for it) and every later call reuses."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import errno
import gc
import hashlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Callable

_REPO = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    """Everything downloaded or built for every checkout: $WELLREAD_CACHE, else ~/.cache/wellread."""
    return Path(os.environ.get("WELLREAD_CACHE") or Path.home() / ".cache" / "wellread").expanduser()


def runs_dir() -> Path:
    """`WELLREAD_RUNS`, else `runs/` in the kit's checkout, else <cache_root>/runs."""
    if os.environ.get("WELLREAD_RUNS"):
        return Path(os.environ["WELLREAD_RUNS"]).expanduser()
    if (_REPO / "pyproject.toml").exists() and (_REPO / "notebooks").exists():
        return _REPO / "runs"
    return cache_root() / "runs"


# ---------------------------------------------------------------------------------------------------
# Atomic writes: the one place that renames a finished file or folder into place

@contextlib.contextmanager
def atomic_path(target, *, replace: bool = True):
    """Yield a fresh temporary sibling of `target`; write a file or a folder there. When the block ends
    without error it becomes `target` in one rename, so a reader sees the old target or the new, never half.

    A folder that already exists is swapped out only when `replace`; otherwise the existing one is kept
    (another process finished the same work first) and ours is discarded."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if target.is_dir() and tmp.is_dir():
            if not replace:
                return
            old = tmp.with_name(tmp.name + "-old")
            os.replace(target, old)  # a directory cannot be renamed onto a non-empty one: move it aside
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_plain(obj), indent=2))


def file_sha256(path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path):
    """A JSON file the kit wrote; a damaged one is named, with how to rebuild it."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as e:
        raise ValueError(f"{path} is damaged ({e}); delete its folder, or run again with force=True (CLI: --force), "
                         "to rebuild it") from None


# ---------------------------------------------------------------------------------------------------
# Keys and provenance

def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _portable(value):
    """Paths inside the runs folder or the cache root as "<runs>/..." and "<cache>/...": a config names the same
    artifacts on every machine, so a pack prepared on one is found by the keys of another."""
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    if isinstance(value, str):
        for root, name in ((runs_dir(), "<runs>"), (cache_root(), "<cache>")):
            for prefix in {str(root) + os.sep, str(root.resolve()) + os.sep}:
                if value.startswith(prefix):
                    return name + "/" + value[len(prefix):].replace(os.sep, "/")
    return value


def config_key(config) -> str:
    """A short stable hash of a config (dataclass or dict, may hold other stages' keys), the same on every machine."""
    text = json.dumps(_portable(_plain(config)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def function_id(fn, kit) -> str:
    """A function's identity for a cache key: "kit" for the kit's own `kit` (or None), else "learner:" and the sha256
    of its source, so a stage trained with a learner's function is its own cache entry."""
    if fn is None or fn is kit:
        return "kit"
    try:
        body = inspect.getsource(fn)
    except (OSError, TypeError):  # defined where no source is kept: its bytecode and constants identify it
        body = fn.__code__.co_code.hex() + repr(fn.__code__.co_consts)
    return "learner:" + hashlib.sha256(body.encode()).hexdigest()[:12]


def provenance() -> dict:
    """Who made an artifact: commit, machine, time."""
    try:
        commit = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"commit": commit, "machine": f"{platform.machine()} {platform.processor() or ''} x{os.cpu_count()}".strip(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%S")}


# ---------------------------------------------------------------------------------------------------
# One builder per key: a lock file the kernel releases when its holder dies

@contextlib.contextmanager
def key_lock(path: Path, *, what: str = "", poll_s: float = 1.0):
    """Hold an exclusive lock on `path` (a file holding the holder's pid); wait while another process holds it.

    The lock is an OS file lock (flock), so a holder killed by SIGKILL releases it at once: a stale lock
    cannot block anyone. Where flock does not exist (Windows) builds are not serialised."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one builder at a time is then up to the user
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not told:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                print(f"wellread: waiting for {holder} to finish building {what or path.stem}", file=sys.stderr)
                told = True
            handle.close()
            time.sleep(poll_s)
            continue
        # The holder before us removes the file as it lets go: a lock on a file no longer at `path` guards nothing.
        if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {platform.node()}")
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held, so no waiter locks a file that is about to go
            fcntl.flock(handle, fcntl.LOCK_UN)


class Unresumable(RuntimeError):
    """A build failure whose partial work must not be resumed (a diverged run): its work folder is removed."""


WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def damage(folder: Path) -> str | None:
    """Why a finished stage folder cannot be used (an unreadable record, a model without weights), else None."""
    for record in ("stage.json", "metrics.json", *(["config.json"] if (folder / "config.json").exists() else [])):
        try:
            if not isinstance(json.loads((folder / record).read_text()), dict):
                return f"its {record} is not a JSON object"
        except (OSError, ValueError) as e:
            return f"its {record} is unreadable ({type(e).__name__}: {e})"
    if (folder / "config.json").exists() and not any((folder / w).is_file() and (folder / w).stat().st_size
                                                     for w in WEIGHTS):
        return f"it holds a model config.json but no weights ({' or '.join(WEIGHTS[:2])})"
    return None


CHECKPOINT_RECORD = "checkpoint.json"


def mark_resumable(work: Path, **record) -> None:
    """Say, in the kit's own record, that `work` (a stage's `<key>.partial`) holds a checkpoint to resume from; the
    record names the checkpoint files, and a rerun keeps only those."""
    files = sorted(p.name for p in work.iterdir() if p.is_file() and p.name.startswith("checkpoint")
                   and p.name != CHECKPOINT_RECORD)
    write_json(work / CHECKPOINT_RECORD, {"stage": work.parent.name, "key": work.name.removesuffix(".partial"),
                                          "files": files, **record})


def checkpoint_record(work: Path) -> dict | None:
    """The kit's record of a resumable work folder, or None when it has none that names this very stage and key."""
    try:
        record = json.loads((work / CHECKPOINT_RECORD).read_text())
    except (OSError, ValueError):
        return None
    mine = {"stage": work.parent.name, "key": work.name.removesuffix(".partial")}
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in mine.items()):
        return None
    files = record.get("files")
    if not isinstance(files, list) or not files or not all(
            isinstance(f, str) and "/" not in f and f.startswith("checkpoint") and f != CHECKPOINT_RECORD
            for f in files):
        return None
    return record


def _resumable(work: Path) -> bool:
    """A work folder a rerun can continue from: the checkpoint files the kit's record names (mark_resumable)."""
    record = work.is_dir() and checkpoint_record(work)
    return bool(record) and all((work / f).is_file() for f in record["files"])


def _fresh_work(work: Path, force: bool) -> None:
    """Make `work` the folder this build writes into: a verified checkpoint is kept to resume from (and nothing else
    that lies beside it); any other leftover (a crash's, or planted) is removed, so it can never reach an artifact."""
    if work.exists() and (force or not _resumable(work)):
        if not force:
            warnings.warn(f"{work} holds no checkpoint the kit recorded for this stage (a crash's leftovers, or put "
                          "there by hand): removing it and starting over")
        shutil.rmtree(work) if work.is_dir() and not work.is_symlink() else work.unlink()
    elif work.exists():
        keep = {CHECKPOINT_RECORD, *checkpoint_record(work)["files"]}
        for extra in (p for p in work.iterdir() if p.name not in keep or not p.is_file() or p.is_symlink()):
            shutil.rmtree(extra) if extra.is_dir() and not extra.is_symlink() else extra.unlink()
    work.mkdir(parents=True, exist_ok=True)


def stage(name: str, config, build: Callable[[Path], dict], *, force: bool = False) -> Path:
    """Return runs/<name>/<key>/ (artifact + stage.json + metrics.json), building it if missing or `force`.

    `build(work_dir)` writes the artifact into `work_dir` and returns its metrics. One process builds a key
    at a time (the others wait, then reuse its artifact). Only a finished build is renamed to `<key>`, so a
    half-written artifact is never read; a finished one found damaged is named and rebuilt. A failed build's
    work dir, `<key>.partial`, is kept only when it holds a checkpoint to resume from (not after a full disk or
    a diverged run); the error gets a note naming the stage.
    """
    final = runs_dir() / name / config_key(config)
    if final.exists() and not force and not damage(final):
        return final
    with key_lock(final.with_name(final.name + ".lock"), what=f"{name}/{final.name}"):
        if final.exists() and not force:
            why = damage(final)
            if not why:  # built by the process we waited for
                return final
            warnings.warn(f"{final} is damaged: {why}; rebuilding it")
        work = final.with_name(final.name + ".partial")
        _fresh_work(work, force)
        started = time.time()
        try:
            metrics = build(work) or {}
            metrics.setdefault("wall_s", round(time.time() - started, 2))
            release_memory()
            write_json(work / "stage.json", {"stage": name, "key": final.name, "config": config, **provenance()})
            write_json(work / "metrics.json", metrics)
            with atomic_path(final, replace=True) as tmp:
                work.rename(tmp)
        except BaseException as error:
            disk_full = isinstance(error, OSError) and error.errno == errno.ENOSPC
            kept = _resumable(work) and not disk_full and not isinstance(error, Unresumable)
            if not kept:
                shutil.rmtree(work, ignore_errors=True)
            if hasattr(error, "add_note"):  # Python >= 3.11; the CLI prints the note with the error
                error.add_note(f"while building {name}/{final.name}" + (f" (its checkpoint is kept in {work})"
                                                                        if kept else ""))
            raise
        with contextlib.suppress(OSError):  # the timing log is a convenience: a full disk must not fail a built stage
            log_build(name, final.name, time.time() - started)
    return final


def log_build(name: str, key: str, seconds: float) -> None:
    """Append one line to runs/builds.jsonl: which stage was built, when, in how many seconds (the tour's timing
    table reads it). One short appended line per build; a reader skips a line cut off by a crash."""
    line = json.dumps({"stage": name, "key": key, "seconds": round(seconds, 2), "finished": round(time.time(), 2)})
    runs_dir().mkdir(parents=True, exist_ok=True)
    with (runs_dir() / "builds.jsonl").open("a") as f:
        f.write(line + "\n")


def builds_between(start: float, end: float) -> list[dict]:
    """The stage builds logged by log_build that finished between two times (time.time() values)."""
    path = runs_dir() / "builds.jsonl"
    out = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if start <= entry.get("finished", -1) <= end:
            out.append(entry)
    return out


def release_memory() -> None:
    """Hand the memory a finished stage freed back to the system (glibc keeps freed heap otherwise), so the next
    stage in the same notebook kernel starts low: Binder stops a kernel above about 2 GB."""
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def discard_unreadable(path: Path, error: Exception) -> None:
    """A checkpoint that cannot be read (a 0-byte or truncated file) is removed so the stage starts over."""
    warnings.warn(f"{path} is unreadable ({type(error).__name__}: {error}); discarding it and starting over")
    path.unlink(missing_ok=True)


def metrics(path: Path) -> dict:
    return read_json(Path(path) / "metrics.json")
