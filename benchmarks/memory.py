"""Peak memory of each notebook's kernel, as Binder would see it (it stops a kernel above about 2 GB).

    python benchmarks/memory.py --students tiny mini --budget classroom
    python benchmarks/memory.py --students tiny --notebooks 00 01 --budget smoke

Each notebook runs in a fresh papermill process (the same parameters `wellread tour` passes); the kernel is
that process's child, so the kernel's peak resident memory is the process's RUSAGE_CHILDREN maximum. Stages
cached by an earlier notebook are reused, as in a class. Prints a table of notebook x student (MB, wall time)
and writes it as JSON next to the executed notebooks.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 1500

_ONE = """
import json, resource, sys, papermill
name, out, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
papermill.execute_notebook(f"{name}.ipynb", out, parameters=params, kernel_name="python3", progress_bar=False)
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure(name: str, student: str, budget: str, out_dir: Path) -> dict:
    params = {"BUDGET": budget, "STUDENT": student, "SEED": 0, "OUT_DIR": str(out_dir)}
    started = time.time()
    done = subprocess.run([sys.executable, "-c", _ONE, name, str(out_dir / f"{name}-{student}.ipynb"),
                           json.dumps(params)], cwd=ROOT / "notebooks", capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} ({student}) failed:\n{done.stderr[-2000:]}")
    peak_kb = json.loads(done.stdout.strip().splitlines()[-1])["peak_kb"]
    return {"notebook": name, "student": student, "peak_mb": round(peak_kb / 1024), "wall_s": round(time.time() - started)}


def main(argv=None) -> int:
    from wellread.device import choose_precision, cpu_flags
    from wellread.lessons import TOUR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", nargs="+", default=["tiny", "mini"])
    ap.add_argument("--notebooks", nargs="+", default=None, help="names or numbers (default: the tour, 0-5)")
    ap.add_argument("--budget", default="classroom")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "memory")
    args = ap.parse_args(argv)
    names = [n for n in TOUR if not args.notebooks or any(n.startswith(x.zfill(2)) or n == x for x in args.notebooks)]
    args.out.mkdir(parents=True, exist_ok=True)
    precision, why = choose_precision()
    print(f"budget {args.budget}; precision {precision} ({why}); CPU flags: {' '.join(cpu_flags())}", flush=True)
    rows = []
    for student in args.students:
        for name in names:
            row = measure(name, student, args.budget, args.out)
            rows.append(row)
            flag = "" if row["peak_mb"] <= TARGET_MB else f"  > {TARGET_MB} MB"
            print(f"{name:<28} {student:<6} {row['peak_mb']:>6} MB {row['wall_s']:>6} s{flag}", flush=True)
    (args.out / f"memory-{args.budget}.json").write_text(json.dumps(
        {"budget": args.budget, "precision": precision, "rows": rows}, indent=2))
    print(f"\n| notebook | {' | '.join(args.students)} |\n|---|{'---|' * len(args.students)}")
    for name in names:
        cells = [next((f"{r['peak_mb']} MB ({r['wall_s']} s)" for r in rows if r["notebook"] == name and r["student"] == s), "")
                 for s in args.students]
        print(f"| {name} | {' | '.join(cells)} |")
    return 0 if all(r["peak_mb"] <= TARGET_MB for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
