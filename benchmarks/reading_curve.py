"""The reading curve: how much a Tiny student (L2/H128) gains on the task from the tokens it read in masked-LM
pre-training. One long pre-training run keeps a snapshot at each point; each point is then fine-tuned with all
labels and with 1,000 labels, three seeds each, and the rows are appended to data/results/results.csv.

    python benchmarks/reading_curve.py pretrain      # hours on 2 CPU cores; resumes where it stopped
    python benchmarks/reading_curve.py rows          # fine-tunes every point that exists, skips rows already there

Both steps are resumable: run them again after any interruption.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
from wellread.budget import get_budget
from wellread.pretrain import pretrain

SIZE = "L2/H128"
BUDGET = "classroom"
# Steps of 32 blocks x 128 tokens: 2.0M, 6.1M, 24.6M, 49.2M and 102.4M tokens read.
POINTS = (500, 1_500, 6_000, 12_000, 25_000)
# One schedule for every point (each point is a snapshot of the longest run), with the classroom's 30 warm-up steps.
CURVE = {"pretrain__schedule_steps": POINTS[-1], "pretrain__warmup_frac": 30 / POINTS[-1], "pretrain__eval_every": 500}


def point_overrides(steps: int) -> dict:
    """The budget overrides whose pre-training is the curve's point at `steps`."""
    return {**CURVE, "pretrain__steps": steps}


def run_pretraining() -> None:
    config = replace(get_budget(BUDGET, **point_overrides(POINTS[-1])).pretrain, size=SIZE)
    pretrain(config, snapshots=POINTS[:-1], checkpoint_every=250)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["pretrain", "rows"])
    args = parser.parse_args()
    if args.step == "pretrain":
        run_pretraining()


if __name__ == "__main__":
    main()
