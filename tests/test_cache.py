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
    assert get_budget("smoke").pretrain_steps < get_budget("classroom").pretrain_steps
    assert get_budget("classroom", pretrain_steps=7).pretrain_steps == 7
    with pytest.raises(ValueError, match="classroom"):
        get_budget("huge")
    with pytest.raises(ValueError, match="pretrain_steps"):
        get_budget("smoke", pretrain_step=3)
