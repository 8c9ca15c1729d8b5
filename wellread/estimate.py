"""How long a run will take on this machine and how much memory it needs, estimated before it starts, so a
learner hears "Base on this CPU: about 9 h and 3 GB" before the cell runs, not after. Rough on purpose:
FLOPs from the model's shape divided by a throughput measured here once, plus a memory model of the step."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from .budget import Budget
from .device import resolve
from .methods import get
from .sizes import Size

EFFICIENCY = 0.5          # share of the matmul peak a whole training step reaches (measured 0.4-0.9 for Tiny-Mini)
PROCESS_BYTES = 700e6     # torch, transformers, datasets and a kernel, before any model (measured ~0.6-0.8 GB)
SLOW_S = 30 * 60          # a run longer than this gets a warning
TRAIN_TEXTS = 10_175      # the embedded task's training inputs, when the budget says "all of them"
TRANSFER_TEXTS = 105_467  # the embedded movie transfer set, when the budget says "all of it"
MINILM_HIDDEN = 384       # the width of a student cut from the MiniLM teacher (pretrained="minilm", truncated)
# Tokens a text costs, as a share of max_len, once its batch is padded (the embedded task's training split at 64:
# random batches of 32 pad to 55 tokens per text, length-bucketed ones to 32)
PADDED_SHARE = {False: 55 / 64, True: 32 / 64}


def machine_memory() -> int:
    """Bytes this process may use: the container's limit (Binder, Docker) if there is one, else the RAM."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 50:
            return int(text)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


@lru_cache(maxsize=None)
def throughput(precision: str = "auto", device: str | None = None) -> float:
    """Matmul FLOP/s at `precision` on this device: a fraction of a second, measured once per process
    (not kept on disk: a measurement taken while the machine was busy would mislead every later estimate)."""
    precision = resolve(precision)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    n = 1024
    a = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, a)
    best = float("inf")
    for _ in range(3):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, a)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def _train_flops(size: Size, sequences: float, seq_len: int, head_positions: float = 0.0) -> float:
    """Forward + backward (3x forward) of the encoder over `sequences`, plus a vocabulary head where MLM has one."""
    head = head_positions * 2 * size.hidden * (size.hidden + size.vocab_size)
    return 3 * (sequences * size.encoder_flops(seq_len) + head)


def _step_bytes(size: Size, batch: int, seq_len: int) -> float:
    """Weights, gradients and two Adam moments in fp32, plus the activations autograd keeps for one step."""
    params = size.mlm_params
    per_layer = batch * seq_len * (16 * size.hidden + 2 * size.heads * seq_len) * 4  # hidden states + attention maps
    return 16 * params + size.layers * per_layer


@dataclass
class Estimate:
    seconds: float
    memory: float           # peak bytes of the process
    available: float        # bytes this machine (or container) allows
    precision: str

    @property
    def fits(self) -> bool:
        return self.memory < 0.8 * self.available

    @property
    def slow(self) -> bool:
        return self.seconds > SLOW_S

    def __str__(self) -> str:
        minutes = self.seconds / 60
        took = f"about {minutes / 60:.1f} h" if minutes >= 90 else f"about {minutes:.0f} min" if minutes >= 1 \
            else "under a minute"
        return (f"{took} and {self.memory / 1e9:.1f} GB at {self.precision} "
                f"(this machine allows {self.available / 1e9:.1f} GB)")


def estimate(size: Size, method: str, b: Budget, pretrained: str | None = None) -> Estimate:
    """The student's own stages of `method` (a methods.METHODS name) at budget `b`: its pre-training when it starts
    from its own (`pretrained`, default the method's first start), then its training stage. The shared teacher and its
    logits are not counted; a student started from weights read elsewhere costs no pre-training here."""
    chosen = get(method)
    start = pretrained or chosen.starts[0]
    precision = resolve(b.precision)
    if start in ("minilm", "teacher"):  # the truncated teacher's start is "minilm" too
        size = Size(size.layers, MINILM_HIDDEN, off_grid=True)  # the teacher's layers keep their width
    train_texts = b.task.train_examples or TRAIN_TEXTS
    config = chosen.config(b)
    flops, batch, seq_len = 0.0, config.batch_size // config.gradient_accumulation_steps, b.task.max_len
    if start == "own":
        p = b.pretrain
        sequences = p.steps * p.batch_size
        flops += _train_flops(size, sequences, p.block_size, sequences * p.block_size * p.mask_prob)
        batch, seq_len = p.batch_size // p.gradient_accumulation_steps, p.block_size  # one part's activations at a time
    texts = (b.logits.transfer_examples or TRANSFER_TEXTS) + train_texts if chosen.teacher else train_texts
    flops += _train_flops(size, config.epochs * texts, b.task.max_len * PADDED_SHARE[config.length_buckets])
    seconds = flops / (EFFICIENCY * throughput(precision))
    memory = PROCESS_BYTES + _step_bytes(size, batch, seq_len)
    return Estimate(seconds=seconds, memory=memory, available=machine_memory(), precision=precision)


def warning(size: Size, method: str, b: Budget, pretrained: str | None = None) -> str | None:
    """A sentence to show before a run that will not fit this machine's memory or a class's time, else None."""
    guess = estimate(size, method, b, pretrained)
    if guess.fits and not guess.slow:
        return None
    trouble = " and ".join(t for t, bad in (("will not fit in memory", not guess.fits), ("will take long", guess.slow)) if bad)
    return (f"{size} with {method} at the {b.name!r} budget {trouble} here: {guess}. A smaller student "
            f"(e.g. Tiny or Mini), the 'smoke' budget, or a GPU would help.")
