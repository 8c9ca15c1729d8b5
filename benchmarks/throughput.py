"""Pre-training throughput: a naive Hugging Face MLM step against wellread's step, in tokens/s and GFLOP/s.

    python benchmarks/throughput.py --sizes tiny mini --steps 10 --batch 32 --seq 128

Naive: `BertForMaskedLM(input_ids, labels=...)` (vocabulary logits at every position), fp32, eager, AdamW.
wellread: `pretrain.train_step` (head only at masked positions, bf16 autocast, optionally compiled).
Run it on a quiet machine: other busy processes on the same cores distort every number.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see FACTS.md on shared CPUs

import torch  # noqa: E402
from transformers import get_linear_schedule_with_warmup  # noqa: E402

from wellread import pretrain  # noqa: E402
from wellread.device import accelerator, seed_everything  # noqa: E402
from wellread.sizes import parse_size  # noqa: E402

VOCAB = 30522


class _Tok:
    """Just what mask_tokens needs from a BERT uncased tokenizer (ids of the standard vocabulary)."""
    all_special_ids = [0, 100, 101, 102, 103]  # [PAD] [UNK] [CLS] [SEP] [MASK]
    mask_token_id = 103

    def __len__(self):
        return VOCAB


def matmul_peak(n=2048, repeats=5) -> float:
    """fp32 GFLOP/s of a big square torch.mm on the current threads (best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def step_flops(size, batch, seq, predicted) -> float:
    """Training FLOPs of one step = 3 x forward (backward costs twice the forward).

    forward = batch x encoder (per layer 2*T*(4H^2 + 2*H*4H) for the matmuls + 4*T^2*H for attention
    scores and mixing; Size.encoder_flops) + predicted positions x head (2*H^2 transform + 2*H*V decoder).
    Embedding lookups, LayerNorm, softmax and the optimizer are not counted.
    """
    h = size.hidden
    head = predicted * (2 * h * h + 2 * h * VOCAB)
    return 3 * (batch * size.encoder_flops(seq) + head)


def batches(n, batch, seq, seed=0):
    """`n` random masked batches (fixed seed), the same for both loops."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(1000, VOCAB, (batch, seq), generator=g)
        ids[:, 0], ids[:, -1] = 101, 102
        out.append(pretrain.mask_tokens(ids, _Tok(), 0.15, g))
    return out


def time_steps(step, data, warmup) -> float:
    """Median seconds per step after `warmup` untimed steps."""
    times = []
    for i, (x, y) in enumerate(data):
        t = time.perf_counter()
        step(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def naive(size, data, warmup) -> float:
    seed_everything(0)
    model = pretrain.build_model(size.short, VOCAB).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(x, y):
        loss = model(input_ids=x, labels=y).loss  # logits [B, T, 30522] at every position
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time_steps(step, data, warmup)


def wellread(size, data, warmup, compile) -> float:
    seed_everything(0)
    acc = accelerator(bf16=True)
    model = pretrain.MaskedOnlyLM(pretrain.build_model(size.short, VOCAB))
    opt = pretrain.make_optimizer(model, 1e-4, 0.01)
    sched = get_linear_schedule_with_warmup(opt, 0, 10 ** 6)
    model, opt = acc.prepare(model, opt)
    if compile:
        acc.unwrap_model(model).mlm.bert.compile()
    model.train()
    return time_steps(lambda x, y: pretrain.train_step(model, opt, sched, acc, x, y), data, warmup)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["tiny", "mini"])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per loop")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile happens here)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--compile", choices=["off", "on", "both"], default="both")
    args = ap.parse_args()

    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 matmul peak {peak:.0f} GFLOP/s")
    data = batches(args.steps + args.warmup, args.batch, args.seq)
    tokens = args.batch * args.seq
    predicted = sum(int((y != -100).sum()) for _, y in data) / len(data)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]

    header = f"{'size':6} {'loop':22} {'s/step':>8} {'tokens/s':>9} {'speed-up':>8} {'GFLOP/s':>8} {'% fp32 peak':>11}"
    print(header + "\n" + "-" * len(header))
    for spec in args.sizes:
        size = parse_size(spec)
        rows = [("naive fp32 full-vocab", naive(size, data, args.warmup), tokens)]
        for c in modes:
            rows.append((f"wellread bf16{' compile' if c else ''}", wellread(size, data, args.warmup, c), predicted))
        base = rows[0][1]
        for name, s, pred in rows:
            gflops = step_flops(size, args.batch, args.seq, pred) / s / 1e9
            print(f"{size.name:6} {name:22} {s:8.3f} {tokens / s:9.0f} {base / s:7.2f}x {gflops:8.1f} {100 * gflops / peak:10.0f}%")


if __name__ == "__main__":
    main()
