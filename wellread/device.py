"""Devices and precision: which numeric format this machine runs fast, the one place that autocasts, and seeds.

bf16 where the hardware has it natively (CPUs with AVX-512-BF16 or AMX, GPUs of compute capability >= 8.0),
fp16 with gradient scaling on older GPUs (Colab's T4), fp32 elsewhere. A CPU that can only emulate bf16
runs it an order of magnitude slower than fp32, so a short timed probe confirms the flags before bf16 is used.
"""
from __future__ import annotations

import contextlib
import os
import platform
import random
import time

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from transformers.utils import logging as transformers_logging

from . import cache

# The kit draws its own progress bars; transformers' bars and weight reports on every load are noise.
transformers_logging.disable_progress_bar()
transformers_logging.set_verbosity_error()

PRECISIONS = ("fp32", "bf16", "fp16")
CHOICES = ("auto",) + PRECISIONS
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    if precision not in CHOICES:
        raise ValueError(f"precision={precision!r}; valid: {list(CHOICES)} ('auto': what this device runs fast)")
    return precision


def cpu_flags() -> list[str]:
    """The CPU flags that decide bf16 (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            words = set(f.read().split())
    except OSError:
        return []
    return [flag for flag in ("avx2", "avx512f", *NATIVE_BF16_FLAGS, "amx_tile") if flag in words]


def _bf16_probe(n: int = 256, repeats: int = 3) -> float:
    """bf16 time / fp32 time of one n x n matmul: well below 1 where bf16 is native, ~10 where emulated."""
    def best(dtype):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        return min(times)
    return best(torch.bfloat16) / best(torch.float32)


def _cpu_bf16_is_fast(flags: list[str]) -> tuple[bool, str]:
    """Decide by the flags, confirm by the probe; the probe's answer is cached per machine and library."""
    if not any(f in flags for f in NATIVE_BF16_FLAGS):
        return False, "the CPU has no native bf16 (no avx512_bf16/amx_bf16 flag)"
    ident = {"cpu": platform.processor() or platform.machine(), "flags": flags, "torch": torch.__version__,
             "isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""), "threads": torch.get_num_threads()}
    path = cache.cache_root() / "precision" / f"{cache.config_key(ident)}.json"
    try:
        ratio = cache.read_json(path)["bf16_over_fp32"]
    except (OSError, ValueError, KeyError):
        ratio = _bf16_probe()
        cache.write_json(path, {**ident, "bf16_over_fp32": ratio})
    if ratio < 0.9:
        return True, f"native bf16 ({'/'.join(f for f in flags if f in NATIVE_BF16_FLAGS)}; a bf16 matmul takes {ratio:.2f}x fp32's time)"
    return False, f"bf16 flags present but a bf16 matmul takes {ratio:.1f}x fp32's time (emulated or limited)"


def choose_precision(device: str | torch.device | None = None, requested: str = "auto") -> tuple[str, str]:
    """(precision, why) for `device` (default: the one Accelerate would use). `WELLREAD_PRECISION` overrides."""
    forced = os.environ.get("WELLREAD_PRECISION", "").strip().lower()
    if forced not in ("", "auto"):
        return check_precision(forced), f"WELLREAD_PRECISION={forced} is set"
    if check_precision(requested) != "auto":
        return requested, "asked for explicitly"
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return "bf16", f"GPU compute capability {major}.{minor} >= 8.0: native bf16"
        if major >= 7:
            return "fp16", f"GPU compute capability {major}.{minor}: fp16 tensor cores, no native bf16"
        return "fp32", f"GPU compute capability {major}.{minor}: no fast half precision"
    if device.type != "cpu":
        return "fp32", f"{device.type}: fp32"
    fast, why = _cpu_bf16_is_fast(cpu_flags())
    return ("bf16" if fast else "fp32"), why


def slow_precision(precision: str = "auto") -> str | None:
    """A sentence when `precision` (as resolved here) is emulated on this machine, so slower than fp32; else None."""
    chosen, why = choose_precision(requested=precision)
    if chosen == "fp32":
        return None
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        if chosen == "bf16" and major < 8 or chosen == "fp16" and major < 7:
            return (f"precision {chosen} ({why}) is emulated on this GPU (compute capability {major}.{minor}): "
                    f"expect it slower than fp32; 'auto' picks {choose_precision('cuda')[0]} here")
        return None
    fast, reason = _cpu_bf16_is_fast(cpu_flags())
    if chosen == "bf16" and fast:
        return None
    reason = reason if chosen == "bf16" else "no native fp16"
    return (f"precision {chosen} ({why}) is emulated on this CPU ({reason}): expect it several times slower than "
            f"fp32 (5x measured on one such CPU); precision 'auto' picks {'bf16' if fast else 'fp32'} here")


def resolve(precision: str = "auto") -> str:
    """The concrete precision a stage runs with (stored in its config, so its cache key says it)."""
    return choose_precision(requested=precision)[0]


def processes() -> PartialState:
    """The processes `accelerate launch` started (this one alone otherwise). On a machine without a GPU they share
    the CPU over gloo, which Accelerate chooses only when told the run is on the CPU."""
    return PartialState(cpu=not torch.cuda.is_available())


def accelerator(precision: str = "auto") -> Accelerator:
    """A fresh Accelerator with this precision's autocast (fp32 master weights; fp16 adds gradient scaling)."""
    precision = resolve(precision)
    # Accelerate keeps one global precision per process; stages with different settings reset it.
    AcceleratorState._reset_state()
    return Accelerator(mixed_precision={"fp32": "no"}.get(precision, precision))


def autocast(precision: str, device_type: str = "cpu"):
    """The autocast context for inference with `precision` (a no-op for fp32)."""
    precision = resolve(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=_DTYPES[precision])


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for the data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
