"""Measure all 24 student sizes once and commit the result (data/speed_grid.json): notebook 0 at the classroom
budget times only a few sizes on the learner's machine and shows the whole grid from this file, labelled.

    WELLREAD_PRECISION=fp32 python benchmarks/speed_grid.py   # the path of laptops without native bf16

Prints each size's milliseconds at batch 1 and 32 and its speed-up against BERT-Base.
"""
from __future__ import annotations

import argparse
import os
import platform

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch

from wellread import cache, speed
from wellread.device import choose_precision, cpu_flags, resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(speed.COMMITTED))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    precision = resolve("auto")
    print(f"CPU flags: {' '.join(cpu_flags())}; precision {precision} ({choose_precision()[1]}); "
          f"{torch.get_num_threads()} threads", flush=True)
    rows = speed.speed_grid(batches=(1, 32), repeats=args.repeats, precision=precision, force=True)
    for r in rows:
        print(f"{r['size']:>9}  {r['ms_batch1']:8.1f} ms  {r['ms_batch32']:9.1f} ms (batch 32)  "
              f"{r['speedup_batch1']:6.1f}x")
    measurement = {**cache.provenance(), "cpu_flags": cpu_flags(), "precision": precision,
                   "processor": platform.processor(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "seq_len": 128, "repeats": args.repeats, "rows": rows,
                   "command": f"WELLREAD_PRECISION={os.environ.get('WELLREAD_PRECISION', 'auto')} python benchmarks/speed_grid.py"}
    cache.write_json(args.out, measurement)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
