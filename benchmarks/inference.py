"""Teacher inference at each precision, side by side: the MiniLM teacher on a batch of 64 x 64 tokens.

    python benchmarks/inference.py                          # this CPU
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/inference.py  # a CPU without native bf16, simulated

Prints the median seconds per batch at fp32 and bf16, their ratio, and the precision the kit chooses here.
"""
from __future__ import annotations

import os
import statistics
import time

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch
from transformers import AutoModelForSequenceClassification

from wellread import data
from wellread.device import autocast, choose_precision, cpu_flags


@torch.inference_mode()
def seconds(model, ids, precision: str, repeats: int = 5) -> float:
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        with autocast(precision):
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
        if i:  # the first call warms up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    model = AutoModelForSequenceClassification.from_pretrained(data.teacher_dir()).eval()
    ids = torch.randint(1000, 20000, (64, 64), generator=torch.Generator().manual_seed(0))
    chosen, why = choose_precision()
    print(f"CPU flags: {' '.join(cpu_flags())}; ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}")
    print(f"the kit chooses {chosen}: {why}")
    fp32, bf16 = seconds(model, ids, "fp32"), seconds(model, ids, "bf16")
    print(f"MiniLM-L6-H384, batch 64 x 64: fp32 {fp32:.3f} s, bf16 {bf16:.3f} s (bf16 / fp32 = {bf16 / fp32:.2f}x)")


if __name__ == "__main__":
    main()
