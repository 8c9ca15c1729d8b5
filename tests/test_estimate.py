"""A run that will not fit this machine's memory or a class's time is announced before it starts."""
import pytest
import torch

from wellread import device, estimate
from wellread.budget import get_budget
from wellread.recipes import run
from wellread.sizes import parse_size


@pytest.fixture
def laptop(monkeypatch):
    """A 2 GB machine (Binder's limit) doing 100 GFLOP/s in fp32 (the AVX2-only EPYC measured), without bf16."""
    monkeypatch.setattr(estimate, "machine_memory", lambda: 2e9)
    monkeypatch.setattr(estimate, "throughput", lambda precision="auto", device=None: 100e9)
    monkeypatch.setenv("WELLREAD_PRECISION", "fp32")


def test_small_students_fit_a_class_and_large_ones_are_warned_about(laptop):
    classroom = get_budget("classroom")
    assert estimate.warning(parse_size("tiny"), "pd", classroom) is None
    message = estimate.warning(parse_size("base"), "pd", classroom)
    assert "Base" in message and "will not fit in memory" in message and "GB" in message and " h " in message
    slow = estimate.warning(parse_size("L6/H512"), "pf", classroom)
    assert "will take long" in slow


def test_estimates_grow_with_the_student_and_the_budget(laptop):
    tiny, mini = parse_size("tiny"), parse_size("mini")
    classroom, smoke = get_budget("classroom"), get_budget("smoke")
    assert estimate.estimate(tiny, "pd", smoke).seconds < estimate.estimate(tiny, "pd", classroom).seconds \
        < estimate.estimate(mini, "pd", classroom).seconds
    assert estimate.estimate(tiny, "basic", classroom).seconds < estimate.estimate(tiny, "pf", classroom).seconds
    assert estimate.estimate(tiny, "pd", classroom).memory < estimate.estimate(mini, "pd", classroom).memory
    # a student pre-trained elsewhere costs only its fine-tuning here; MiniLM's layers keep their width (H384)
    assert estimate.estimate(mini, "pf", classroom, "google").seconds == estimate.estimate(mini, "basic", classroom).seconds
    wide = parse_size((4, 384), off_grid=True)
    assert estimate.estimate(mini, "pf", classroom, "minilm").seconds == estimate.estimate(wide, "basic", classroom).seconds


def test_run_warns_before_any_stage_starts(laptop, monkeypatch, tmp_path):
    from wellread import recipes

    def first_stage(*args, **kwargs):
        raise RuntimeError("the first stage would start here")

    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path))
    monkeypatch.setattr(recipes, "pretrain", first_stage)
    with pytest.warns(UserWarning, match="Base with pd .* will not fit in memory"):
        with pytest.raises(RuntimeError, match="first stage"):
            run("pd", "base", "classroom")
    assert not any(tmp_path.iterdir())


def test_the_real_machine_memory_and_throughput_are_positive():
    assert estimate.machine_memory() > 1e8 and estimate.throughput("fp32") > 1e8


def test_the_gpu_budget_takes_fp16_on_a_t4_and_spends_more_on_pre_training(monkeypatch):
    monkeypatch.delenv("WELLREAD_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))  # Colab's T4
    gpu, classroom = get_budget("gpu"), get_budget("classroom")
    assert device.choose_precision()[0] == "fp16" and device.resolve(gpu.precision) == "fp16"
    tokens = lambda b: b.pretrain.steps * b.pretrain.batch_size * b.pretrain.block_size
    assert tokens(gpu) >= 10 * tokens(classroom) and gpu.pretrain.steps >= 10_000
    assert gpu.logits.transfer_examples is None  # the whole transfer set
