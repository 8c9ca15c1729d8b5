"""Precision is chosen by what the device runs fast natively, never by what it can only emulate."""
import pytest
import torch

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
