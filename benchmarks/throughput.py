"""Pre-training throughput: a naive Hugging Face MLM step against wellread's step, side by side, in s/step,
tokens/s and GFLOP/s, with the CPU's flags and the precision the kit chooses here (and why).

    python benchmarks/throughput.py --sizes tiny mini --steps 10 --batch 32 --seq 128
    benchmarks/avx2.sh python benchmarks/throughput.py      # as on an AVX2-only laptop (one core, fp32)
    benchmarks/avx2.sh python benchmarks/throughput.py --sizes tiny --profile   # and where the kit's step spends it

Naive: `BertForMaskedLM(input_ids, labels=...)` (vocabulary logits at every position), fp32, eager, AdamW.
wellread: `train.train_step` on `pretrain.MaskedOnlyLM` (head only at masked positions), at fp32 and, where
the CPU has it natively, bf16 autocast. Run it on a quiet machine: busy neighbours distort every number.
"""
from __future__ import annotations

import argparse
import os
import time

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads; idle threads spin otherwise)
import torch

from wellread import pretrain, train
from wellread.device import choose_precision, cpu_flags, seed_everything
from wellread.sizes import parse_size

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


def naive(size, data, warmup, precision=None) -> float:
    seed_everything(0)
    model = pretrain.build_model(size.short, VOCAB).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(x, y):
        loss = model(input_ids=x, labels=y).loss  # logits [B, T, 30522] at every position
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time_steps(step, data, warmup)


def kit_step(size, precision, compile=False):
    """The kit's own step (train.trainer + train.train_step): masked-only head, at `precision`."""
    seed_everything(0)
    student = pretrain.build_model(size.short, VOCAB)
    trainer = train.trainer(pretrain.MaskedOnlyLM(student), 10 ** 6, lr=1e-4, weight_decay=0.01, warmup_frac=0.0,
                            precision=precision, **pretrain.ADAM)
    if compile:
        student.bert.compile()
    trainer.model.train()
    return lambda x, y: train.train_step(trainer, lambda m, b: m(*b), (x, y))


def kit(size, data, warmup, precision, compile=False) -> float:
    return time_steps(kit_step(size, precision, compile), data, warmup)


def profile(size, data, warmup, precision, rows=15) -> None:
    """Where the kit's step spends its time: torch.profiler's operators by their own CPU time, over the timed steps."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler
    step = kit_step(size, precision)
    for x, y in data[:warmup]:
        step(x, y)
    with profiler(activities=[ProfilerActivity.CPU]) as prof:
        for x, y in data[warmup:]:
            step(x, y)
    print(f"\n{size.name}, the kit's {precision} step, {len(data) - warmup} steps profiled:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["tiny", "mini"])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per loop")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile happens here)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--compile", action="store_true", help="also time the kit's loop with torch.compile")
    ap.add_argument("--profile", action="store_true", help="then profile the kit's step at its first precision")
    ap.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=None,
                    help="the kit's precisions to time (default: fp32, plus bf16 where it is native here)")
    args = ap.parse_args()

    chosen, why = choose_precision()
    precisions = args.precisions or (["fp32", "bf16"] if chosen == "bf16" else ["fp32"])
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 matmul peak {peak:.0f} GFLOP/s")
    limits = ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"))
    print(f"CPU flags: {' '.join(cpu_flags()) or 'unknown'}; {limits}")
    print(f"the kit chooses {chosen}: {why}; timing the kit at {', '.join(precisions)}")
    data = batches(args.steps + args.warmup, args.batch, args.seq)
    tokens = args.batch * args.seq
    predicted = sum(int((y != -100).sum()) for _, y in data) / len(data)

    header = f"{'size':6} {'loop':26} {'s/step':>8} {'tokens/s':>9} {'vs naive':>8} {'GFLOP/s':>8} {'% fp32 peak':>11}"
    print(header + "\n" + "-" * len(header))
    for spec in args.sizes:
        size = parse_size(spec)
        rows = [("naive fp32 full-vocab", naive(size, data, args.warmup), tokens)]
        for precision in precisions:
            for compile in ([False, True] if args.compile else [False]):
                name = f"wellread {precision} masked-only{' compile' if compile else ''}"
                rows.append((name, kit(size, data, args.warmup, precision, compile), predicted))
        base = rows[0][1]
        for name, s, pred in rows:
            gflops = step_flops(size, args.batch, args.seq, pred) / s / 1e9
            print(f"{size.name:6} {name:26} {s:8.3f} {tokens / s:9.0f} {base / s:7.2f}x {gflops:8.1f} {100 * gflops / peak:10.0f}%")
        if args.profile:
            profile(size, data, args.warmup, precisions[0])


if __name__ == "__main__":
    main()
