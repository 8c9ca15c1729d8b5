import json
from dataclasses import dataclass

import pytest

from wellread import cache
from wellread.budget import get_budget


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path))
    return tmp_path


@dataclass(frozen=True)
class Toy:
    steps: int = 3
    name: str = "x"


def test_hit_miss_and_force(runs):
    calls = []

    def build(work):
        calls.append(work)
        (work / "artifact.txt").write_text(str(len(calls)))
        return {"value": len(calls)}

    first = cache.stage("toy", Toy(), build)
    assert first.parent == runs / "toy" and cache.metrics(first)["value"] == 1
    assert cache.stage("toy", Toy(), build) == first and len(calls) == 1  # hit
    other = cache.stage("toy", Toy(steps=4), build)  # another config: a miss
    assert other != first and len(calls) == 2
    again = cache.stage("toy", Toy(), build, force=True)
    assert again == first and (again / "artifact.txt").read_text() == "3"
    recorded = json.loads((first / "stage.json").read_text())
    assert recorded["config"] == {"name": "x", "steps": 3} and "commit" in recorded and "machine" in recorded


def test_an_interrupted_build_is_never_read_and_can_resume(runs):
    def crash(work):
        (work / "checkpoint.txt").write_text("half")
        cache.mark_resumable(work, step=1)  # the kit's record: only such a folder is resumed
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.stage("toy", Toy(), crash)
    final = runs / "toy" / cache.config_key(Toy())
    assert not final.exists() and (final.with_name(final.name + ".partial") / "checkpoint.txt").exists()

    def resume(work):
        return {"resumed_from": (work / "checkpoint.txt").read_text()}

    assert cache.metrics(cache.stage("toy", Toy(), resume))["resumed_from"] == "half"


def test_keys_are_stable_and_order_free():
    assert cache.config_key({"a": 1, "b": 2}) == cache.config_key({"b": 2, "a": 1})
    assert cache.config_key(Toy()) == cache.config_key({"steps": 3, "name": "x"})
    assert cache.config_key(Toy()) != cache.config_key(Toy(steps=4))


def test_write_json_is_atomic(tmp_path):
    target = tmp_path / "m.json"
    cache.write_json(target, {"a": 1})
    cache.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2} and list(tmp_path.iterdir()) == [target]


def test_budgets():
    assert get_budget("smoke").pretrain.steps < get_budget("classroom").pretrain.steps
    assert get_budget("classroom", pretrain__steps=7).pretrain.steps == 7
    with pytest.raises(ValueError, match="classroom"):
        get_budget("huge")
    with pytest.raises(ValueError, match="pretrain__steps"):
        get_budget("smoke", pretrain_step=3)


# ---------------------------------------------------------------------------------------------------
# The atomic-write helper and the stage cache under concurrency and faults

def test_atomic_path_writes_files_and_folders_whole_or_not_at_all(tmp_path):
    target = tmp_path / "a.txt"
    with cache.atomic_path(target) as tmp:
        tmp.write_text("one")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError):
        with cache.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]

    folder = tmp_path / "model"
    for text, replace, expected in (("first", True, "first"), ("second", False, "first"), ("third", True, "third")):
        with cache.atomic_path(folder, replace=replace) as tmp:
            tmp.mkdir()
            (tmp / "weights").write_text(text)
        assert (folder / "weights").read_text() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "model"]  # no temporaries left


def test_a_failed_build_leaves_no_empty_partial_folder(runs):
    def fail_at_once(work):
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        cache.stage("toy", Toy(), fail_at_once)
    assert not list((runs / "toy").glob("*.partial"))


_BUILDER = """
import os, sys, time
from dataclasses import dataclass
from wellread import cache

@dataclass(frozen=True)
class Toy:
    steps: int = 3
    name: str = "x"

def build(work):
    with open(os.environ["LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(float(os.environ.get("SLEEP", "1")))
    (work / "artifact.txt").write_text("built by " + str(os.getpid()))
    return {"builder": os.getpid()}

path = cache.stage("toy", Toy(), build)
print(path, (path / "artifact.txt").read_text())
"""


def _builders(n, runs, tmp_path, sleep="1"):
    import os
    import subprocess
    import sys
    env = {**os.environ, "WELLREAD_RUNS": str(runs), "LOG": str(tmp_path / "log"), "SLEEP": sleep}
    return [subprocess.Popen([sys.executable, "-c", _BUILDER], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(n)]


def test_concurrent_builders_of_one_key_build_once_and_all_agree(runs, tmp_path):
    outputs = [p.communicate(timeout=120) for p in _builders(4, runs, tmp_path)]
    lines = {out.strip() for out, _ in outputs}
    assert len(lines) == 1, outputs  # every process got the same, complete artifact
    assert len((tmp_path / "log").read_text().split()) == 1  # built once; the others waited and reused it
    final = runs / "toy" / cache.config_key(Toy())
    assert {p.name for p in final.iterdir()} == {"artifact.txt", "metrics.json", "stage.json"}
    assert any("waiting for pid" in err for _, err in outputs)


def test_a_killed_builders_lock_is_taken_over(runs, tmp_path):
    import signal
    import time
    holder = _builders(1, runs, tmp_path, sleep="60")[0]
    while not (tmp_path / "log").exists():
        time.sleep(0.1)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    (tmp_path / "log").unlink()
    out, err = _builders(1, runs, tmp_path, sleep="0")[0].communicate(timeout=120)
    assert "built by" in out and len((tmp_path / "log").read_text().split()) == 1


def test_keys_are_the_same_wherever_the_runs_and_the_cache_live(tmp_path, monkeypatch):
    """A pack prepared on one machine is found by another's keys: paths inside runs/ or the cache root are relative."""
    keys = []
    for where in ("teacher-laptop", "class-machine"):
        monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / where / "runs"))
        monkeypatch.setenv("WELLREAD_CACHE", str(tmp_path / where / "cache"))
        init = str(cache.runs_dir().resolve() / "pretrain" / "abc123")
        teacher = str(cache.cache_root().resolve() / "files" / "teacher")
        keys.append(cache.config_key({"init": init, "teacher": teacher, "steps": 3}))
    assert keys[0] == keys[1]
    assert cache.config_key({"init": "/elsewhere/pretrain/abc123"}) != cache.config_key({"init": "<runs>/pretrain/abc123x"})


def test_a_planted_partial_never_reaches_an_artifact(runs):
    """A `<key>.partial` the kit did not make resumable (a crash's leftovers, or a planted file) is cleared first."""
    work = runs / "toy" / (cache.config_key(Toy()) + ".partial")
    work.mkdir(parents=True)
    (work / "payload.txt").write_text("planted")
    (work / "checkpoint.txt").write_text("no record of the kit")
    with pytest.warns(UserWarning, match="holds no checkpoint the kit recorded"):
        built = cache.stage("toy", Toy(), lambda w: {"files": sorted(p.name for p in w.iterdir())})
    assert cache.metrics(built)["files"] == [] and not (built / "payload.txt").exists()
    # a record naming another key is not this stage's either
    other = runs / "toy" / (cache.config_key(Toy(steps=9)) + ".partial")
    other.mkdir(parents=True)
    (other / "checkpoint.txt").write_text("half")
    (other / cache.CHECKPOINT_RECORD).write_text('{"stage": "toy", "key": "000000000000"}')
    (other / "payload.txt").write_text("planted")
    with pytest.warns(UserWarning, match="holds no checkpoint the kit recorded"):
        built = cache.stage("toy", Toy(steps=9), lambda w: {"files": sorted(p.name for p in w.iterdir())})
    assert cache.metrics(built)["files"] == []


def test_nothing_in_the_kit_unpickles():
    """Every load of weights, checkpoints, tokens and logits is safetensors, JSON, Arrow or weights_only torch."""
    import re
    from pathlib import Path
    package = Path(cache.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bpickle\b|weights_only\s*=\s*False|allow_pickle\s*=\s*True", line) or \
                    ("torch.load(" in line and "weights_only=True" not in line):
                found.append(f"{path.name}:{i}: {line.strip()}")
    assert not found, found
