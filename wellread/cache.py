"""Stage artifacts under runs/<stage>/<config hash>/: reused when the config matches, built atomically."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

_REPO = Path(__file__).resolve().parents[1]


def runs_dir() -> Path:
    """`WELLREAD_RUNS`, else `runs/` in the kit's checkout, else `~/.cache/wellread/runs`."""
    if os.environ.get("WELLREAD_RUNS"):
        return Path(os.environ["WELLREAD_RUNS"]).expanduser()
    if (_REPO / "pyproject.toml").exists() and (_REPO / "notebooks").exists():
        return _REPO / "runs"
    return Path(os.environ.get("WELLREAD_CACHE", "~/.cache/wellread")).expanduser() / "runs"


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


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(_plain(obj), indent=2))
    os.replace(tmp, path)


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def stage(name: str, config, build: Callable[[Path], dict], *, force: bool = False) -> Path:
    """Return runs/<name>/<key>/ (artifact + stage.json + metrics.json), building it if missing or `force`.

    `build(work_dir)` writes the artifact into `work_dir` and returns its metrics. The work dir,
    `<key>.partial`, survives an interruption so a build may resume from checkpoints it left there;
    only a finished build is renamed to `<key>`, so a half-written artifact is never read.
    """
    final = runs_dir() / name / config_key(config)
    if final.exists() and not force:
        return final
    work = final.with_name(final.name + ".partial")
    if force and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    metrics = build(work) or {}
    metrics.setdefault("wall_s", round(time.time() - started, 2))
    write_json(work / "stage.json", {"stage": name, "key": final.name, "config": config, **provenance()})
    write_json(work / "metrics.json", metrics)
    if final.exists():  # only with force: move the old one aside before swapping in the new one
        trash = final.with_name(final.name + f".old{os.getpid()}")
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(work, final)
    return final


def metrics(path: Path) -> dict:
    return read_json(Path(path) / "metrics.json")
