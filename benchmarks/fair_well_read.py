"""The fair well-read design (recipes.well_read) over seeds, its rows committed as each finishes: basic, PF, D, PD at
MiniLM's width, the teacher and the fine-tuned students on the same labelled examples, D and PD on what that teacher
says of the transfer texts. Prints the paper's three orderings as gaps (mean ± sd over seeds, and twice the standard
error of the mean gap).

    python benchmarks/fair_well_read.py                      # classroom budget, Tiny's depth (L2/H384), seeds 0-2
    python benchmarks/fair_well_read.py --size mini --seeds 0 1 2 3
"""
from __future__ import annotations

import argparse
import sys
import time

import wellread  # noqa: F401  (before torch: OMP_WAIT_POLICY)
from wellread import results
from wellread.budget import get_budget
from wellread.recipes import well_read
from wellread.sizes import parse_size

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="classroom")
    parser.add_argument("--size", default="tiny", help="the student whose depth the well-read runs take")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--out", default=str(results.RESULTS_CSV))
    args = parser.parse_args(argv)
    get_budget(args.budget)  # an unknown budget is refused before anything runs
    setting = results.fair_setting(args.labels)
    rows = results.read_rows(args.out)
    done = {(r["method"], str(r["seed"]), r["setting"], r["budget"]) for r in rows}
    for seed in args.seeds:
        if all((m, str(seed), setting.name, args.budget) in done for m in ("basic", "pf", "d", "pd", "teacher")):
            continue
        started = time.time()
        runs = well_read(args.size, args.budget, seed, labels=args.labels, examples=args.examples, quiet=True)
        rows += [{**r.record(setting), "seed": seed} for r in runs
                 if (r.method, str(seed), setting.name, args.budget) not in done]
        results.write_rows(rows, args.out)
        print(f"seed {seed}: " + ", ".join(f"{r.method} {r.test_acc:.3f}" for r in runs)
              + f" ({time.time() - started:.0f} s)", flush=True)
    shape = parse_size(f"L{min(parse_size(args.size).layers, 6)}/H384", off_grid=True)
    print(f"\nFair well-read design at {shape.short}, {args.budget} budget, {args.labels:,} labels for the teacher, basic "
          "and PF (test accuracy, points):")
    for _, g in results.ordering_gaps(rows, args.budget, args.labels).iterrows():
        met = g["seeds"] > 1 and g["test"] >= 2 and g["test"] > g["two_se"]
        print(f"  {g['gap']:<10} {g['test']:+.1f} ± {g['sd']:.1f} (2 SE {g['two_se']:.1f}, {g['seeds']} seeds; validation "
              f"{g['val']:+.1f}): {g['why']}; target >= 2 points and beyond 2 SE {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
