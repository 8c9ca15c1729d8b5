"""Precision is chosen by what the device runs fast natively, never by what it can only emulate."""
import os
import subprocess
import sys
import time

import pytest
import torch

import wellread
from wellread import device


@pytest.fixture
def cpu_only(monkeypatch, tmp_path):
    monkeypatch.delenv("WELLREAD_PRECISION", raising=False)
    monkeypatch.setenv("WELLREAD_CACHE", str(tmp_path))  # a fresh probe cache
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("flags, ratio, expected", [
    (["avx2"], 0.5, "fp32"),                          # a laptop without bf16: never bf16, whatever the probe says
    (["avx2", "avx512f", "avx512_bf16"], 0.55, "bf16"),  # native bf16, confirmed by the probe
    (["avx2", "avx512f", "amx_bf16", "amx_tile"], 0.3, "bf16"),
    (["avx2", "avx512f", "avx512_bf16"], 11.0, "fp32"),   # flags say yes, the probe says emulated (ONEDNN_MAX_CPU_ISA=AVX2)
])
def test_cpu_choice_follows_flags_and_probe(cpu_only, monkeypatch, flags, ratio, expected):
    monkeypatch.setattr(device, "cpu_flags", lambda: flags)
    monkeypatch.setattr(device, "_bf16_probe", lambda: ratio)
    precision, why = device.choose_precision()
    assert precision == expected and why


def test_the_probe_runs_once_per_machine(cpu_only, monkeypatch):
    calls = []
    monkeypatch.setattr(device, "cpu_flags", lambda: ["avx512_bf16"])
    monkeypatch.setattr(device, "_bf16_probe", lambda: calls.append(1) or 0.5)
    assert device.resolve() == device.resolve() == "bf16" and len(calls) == 1


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16"), ((6, 1), "fp32")])
def test_gpu_choice_by_compute_capability(monkeypatch, capability, expected):
    monkeypatch.delenv("WELLREAD_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    assert device.choose_precision("cuda")[0] == expected  # a T4 (7.5) gets fp16 with gradient scaling


def test_override_by_environment_and_argument(cpu_only, monkeypatch):
    monkeypatch.setattr(device, "cpu_flags", lambda: ["avx2"])
    assert device.choose_precision(requested="bf16") == ("bf16", "asked for explicitly")
    monkeypatch.setenv("WELLREAD_PRECISION", "fp32")
    assert device.choose_precision(requested="bf16")[0] == "fp32"
    monkeypatch.setenv("WELLREAD_PRECISION", "half")
    with pytest.raises(ValueError, match="valid: \\['auto', 'fp32', 'bf16', 'fp16'\\]"):
        device.choose_precision()


def test_the_real_probe_is_a_ratio():
    assert device._bf16_probe(n=64, repeats=1) > 0


def test_autocast_is_a_no_op_for_fp32_and_bf16_otherwise():
    x = torch.randn(4, 4)
    with device.autocast("fp32"):
        assert (x @ x).dtype == torch.float32
    with device.autocast("bf16"):
        assert (x @ x).dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------------------
# Idle OpenMP threads: spin a moment on a machine's own cores, sleep at once where other busy work shares them

@pytest.fixture
def unset_policy(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)


def test_idle_threads_spin_on_cores_nothing_else_uses(unset_policy, monkeypatch):
    monkeypatch.setattr(wellread, "cpu_quota", lambda: None)
    monkeypatch.setattr(wellread, "others_busy", lambda: 0.1)
    assert wellread.idle_threads() == ("default", "the cores are this machine's own")


@pytest.mark.parametrize("quota, busy, why", [(1.0, 0.0, "may use 1 of the"), (None, 1.3, "kept 1.3 CPUs busy")])
def test_idle_threads_sleep_at_once_where_the_cores_are_shared(unset_policy, monkeypatch, quota, busy, why):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(wellread, "cpu_quota", lambda: quota)
    monkeypatch.setattr(wellread, "others_busy", lambda: busy)
    policy, said = wellread.idle_threads()
    assert policy == "PASSIVE" and why in said


def test_a_policy_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setattr(wellread, "others_busy", lambda: 2.0)
    assert wellread.idle_threads() == ("ACTIVE", "OMP_WAIT_POLICY is set")


def test_a_process_the_kit_started_decides_afresh_what_its_parent_chose(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv(wellread.KIT_CHOICE, "PASSIVE")  # the parent kit's choice, inherited
    monkeypatch.setattr(wellread, "cpu_quota", lambda: None)
    monkeypatch.setattr(wellread, "others_busy", lambda: 0.0)
    assert wellread.idle_threads() == ("default", "the cores are this machine's own")


def test_a_busy_process_beside_the_kit_makes_its_threads_sleep_at_once():
    """Measured, not mocked: a process spinning on one core while the kit loads is seen, and the kit's torch then
    gets OMP_WAIT_POLICY=PASSIVE (spinning threads beside it took a distillation 2x as long)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)
        out = subprocess.run([sys.executable, "-c", "import os, wellread\nprint(os.environ.get('OMP_WAIT_POLICY'), "
                              "wellread.IDLE_THREADS[1])"], env=env, capture_output=True, text=True, timeout=60)
    finally:
        spinner.kill()
    assert out.stdout.startswith("PASSIVE other processes kept"), out.stdout + out.stderr
