"""Pre-training data-parallel under `accelerate launch` (two CPU processes, gloo), each batch in two micro-batches:
the loss curve of one process within tolerance, one artifact written once; a launched process that finds the
artifact built trains nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from wellread import pretrain
from wellread.pretrain import PretrainConfig

SETTINGS = ["--student", "tiny", "--budget", "smoke", "--precision", "fp32", "--quiet",
            "--set", "pretrain__steps=20", "--set", "pretrain__batch_size=8", "--set", "pretrain__eval_blocks=32",
            "--set", "pretrain__eval_every=10", "--set", "pretrain__gradient_accumulation_steps=2"]


def _pretrain(runs: Path, processes: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "WELLREAD_RUNS": str(runs), "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, "-m", "wellread.cli", "pretrain", *SETTINGS]
    else:
        # --multi_gpu is Accelerate's launcher for several processes on one machine; with no GPU they use the CPU
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "-m", "wellread.cli", "pretrain", *SETTINGS]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _artifact(runs: Path) -> Path:
    (folder,) = [p for p in (runs / "pretrain").iterdir() if p.is_dir()]  # one artifact, no .partial left
    return folder


def test_two_processes_learn_like_one_and_write_once(tmp_path, add_corpus_tokens):
    alone, together = (add_corpus_tokens(tmp_path / name) for name in ("one", "two"))  # tokenizing is not tested here
    _pretrain(alone, 1)
    launched = _pretrain(together, 2)
    assert launched.stdout.count("pre-trained tiny") == 1  # only the main process reports
    assert launched.stdout.count("processes: 2") == 1
    one, two = (json.loads((_artifact(r) / "metrics.json").read_text()) for r in (alone, together))
    assert _artifact(alone).name == _artifact(together).name  # the same config: the same key
    assert one["tokens_seen"] == two["tokens_seen"] == 20 * 8 * 128  # the two processes split each batch
    for a, b in zip(one["eval_curve"], two["eval_curve"]):
        assert a["step"] == b["step"] and abs(a["heldout_loss"] - b["heldout_loss"]) < 0.1, (one, two)
    assert abs(one["curve"][-1]["loss"] - two["curve"][-1]["loss"]) < 0.2
    assert not list((together / "pretrain").glob("*.lock")) and not list((together / "pretrain").glob("*.partial"))


@pytest.mark.parametrize("main", [True, False])
def test_a_launched_process_finds_the_built_stage_and_trains_nothing(tmp_path, monkeypatch, add_corpus_tokens, main):
    monkeypatch.setenv("WELLREAD_RUNS", str(add_corpus_tokens(tmp_path)))
    config = PretrainConfig(steps=2, batch_size=4, eval_blocks=8, precision="fp32")
    built = pretrain.pretrain(config, quiet=True)
    waits = []
    launched = SimpleNamespace(num_processes=2, is_main_process=main, wait_for_everyone=lambda: waits.append(1))

    def trains(*args, **kwargs):
        raise AssertionError("a built stage was trained again")
    monkeypatch.setattr(pretrain, "processes", lambda: launched)
    monkeypatch.setattr(pretrain, "_run", trains)
    assert pretrain.pretrain(config, quiet=True) == built
    assert len(waits) == 2  # both barriers met: no process waits for one that returned early
