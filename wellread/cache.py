"""Where the kit keeps things, and how it writes them: one cache root, atomic writes, and the stage cache
runs/<stage>/<config hash>/ that one process builds (others wait for it) and every later call reuses."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import gc
import hashlib
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
    return json.loads(Path(path).read_text())


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


def config_key(config) -> str:
    """A short stable hash of a config (dataclass or dict, may hold other stages' keys)."""
    text = json.dumps(_plain(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
    with open(path, "a+") as handle:
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    print(f"wellread: waiting for {holder} to finish building {what or path.stem}", file=sys.stderr)
                    told = True
                time.sleep(poll_s)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {platform.node()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def stage(name: str, config, build: Callable[[Path], dict], *, force: bool = False) -> Path:
    """Return runs/<name>/<key>/ (artifact + stage.json + metrics.json), building it if missing or `force`.

    `build(work_dir)` writes the artifact into `work_dir` and returns its metrics. One process builds a key
    at a time (the others wait, then reuse its artifact). The work dir, `<key>.partial`, survives an
    interruption so a build may resume from checkpoints it left there; only a finished build is renamed to
    `<key>`, so a half-written artifact is never read.
    """
    final = runs_dir() / name / config_key(config)
    if final.exists() and not force:
        return final
    with key_lock(final.with_name(final.name + ".lock"), what=f"{name}/{final.name}"):
        if final.exists() and not force:  # built by the process we waited for
            return final
        work = final.with_name(final.name + ".partial")
        if force and work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        started = time.time()
        try:
            metrics = build(work) or {}
        except BaseException:
            if work.is_dir() and not any(work.iterdir()):
                work.rmdir()  # nothing to resume from: leave no empty folder behind
            raise
        metrics.setdefault("wall_s", round(time.time() - started, 2))
        log_build(name, final.name, time.time() - started)
        release_memory()
        write_json(work / "stage.json", {"stage": name, "key": final.name, "config": config, **provenance()})
        write_json(work / "metrics.json", metrics)
        with atomic_path(final, replace=True) as tmp:
            work.rename(tmp)
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
