"""Peak memory of each notebook's kernel, as Binder would see it (it stops a kernel above about 2 GB).

    python benchmarks/memory.py --students tiny mini --budget classroom
    python benchmarks/memory.py --students tiny --notebooks 00 01 --budget smoke

Each notebook runs in a fresh papermill process (the same parameters `wellread tour` passes); the kernel is
that process's child, so the kernel's peak resident memory is the process's RUSAGE_CHILDREN maximum. Stages
cached by an earlier notebook are reused, as in a class. The kernel's memory is also sampled every 0.2 s and
matched to the cells' start and end times, to name the cell where it peaked. Prints a table of notebook x
student (MiB, wall time) and writes it as JSON next to the executed notebooks.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
TARGET_MIB = 1430  # 1.5 GB = 1.5e9 bytes

_ONE = """
import json, resource, sys, papermill
name, out, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
papermill.execute_notebook(f"{name}.ipynb", out, parameters=params, kernel_name="python3", progress_bar=False)
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure(name: str, student: str, budget: str, out_dir: Path) -> dict:
    params = {"BUDGET": budget, "STUDENT": student, "SEED": 0, "OUT_DIR": str(out_dir)}
    executed = out_dir / f"{name}-{student}.ipynb"
    started = time.time()
    log = out_dir / f"{name}-{student}.log"  # a file, not a pipe: nobody reads a pipe while the run is sampled
    with open(log, "w") as err:
        run = subprocess.Popen([sys.executable, "-c", _ONE, name, str(executed), json.dumps(params)],
                               cwd=ROOT / "notebooks", stdout=err, stderr=err, text=True)
        samples = _sample_children(run)
    lines = log.read_text().strip().splitlines()
    if run.returncode != 0:
        raise RuntimeError(f"{name} ({student}) failed:\n" + "\n".join(lines[-40:]))
    peak_kb = json.loads(lines[-1])["peak_kb"]
    cells = _cell_memory(executed, samples)
    top = max(cells, key=lambda c: c["peak_mib"], default=None)
    return {"notebook": name, "student": student, "peak_mib": round(peak_kb / 1024), "wall_s": round(time.time() - started),
            "peak_cell": f"code cell {top['cell']} ({top['start_mib']} -> {top['peak_mib']} MiB sampled): "
                         f"{top['first_line']}" if top else "", "cells": cells}


def _sample_children(run: subprocess.Popen, every_s: float = 0.2) -> list[tuple[float, int]]:
    """(time, MiB) of the run's largest child process (the kernel) until the run ends."""
    parent, samples = psutil.Process(run.pid), []
    while run.poll() is None:
        try:
            sizes = [child.memory_info().rss for child in parent.children(recursive=True)]
        except psutil.Error:  # a child ended between listing and reading
            sizes = []
        if sizes:
            samples.append((time.time(), max(sizes) >> 20))
        time.sleep(every_s)
    return samples


def _cell_memory(executed: Path, samples: list) -> list[dict]:
    """Each code cell's sampled memory: MiB when it started and its highest, with its first line."""
    if not samples or not executed.exists():
        return []
    out = []
    code = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    for number, cell in enumerate(code):
        times = cell.get("metadata", {}).get("papermill", {})
        if not (times.get("start_time") and times.get("end_time")):
            continue
        start, end = (datetime.fromisoformat(times[k].replace("Z", "+00:00")).timestamp()
                      for k in ("start_time", "end_time"))
        during = [mib for when, mib in samples if start <= when <= end + 0.5]
        if during:
            first = next((line.strip() for line in "".join(cell["source"]).splitlines() if line.strip()), "")
            out.append({"cell": number, "first_line": first[:60], "start_mib": during[0], "peak_mib": max(during)})
    return out


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
            flag = "" if row["peak_mib"] <= TARGET_MIB else f"  > {TARGET_MIB} MiB (1.5 GB)"
            print(f"{name:<28} {student:<6} {row['peak_mib']:>6} MiB {row['wall_s']:>6} s{flag}  peak: "
                  f"{row['peak_cell']}", flush=True)
    (args.out / f"memory-{args.budget}.json").write_text(json.dumps(
        {"budget": args.budget, "precision": precision, "rows": rows}, indent=2))
    print(f"\n| notebook | {' | '.join(args.students)} |\n|---|{'---|' * len(args.students)}")
    for name in names:
        cells = [next((f"{r['peak_mib']} MiB ({r['wall_s']} s)" for r in rows if r["notebook"] == name and r["student"] == s), "")
                 for s in args.students]
        print(f"| {name} | {' | '.join(cells)} |")
    return 0 if all(r["peak_mib"] <= TARGET_MIB for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
