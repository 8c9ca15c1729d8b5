"""Run the notebook sequence unattended (papermill), export each to HTML, and tabulate their numbers."""
from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from . import cache
from .lessons import NOTEBOOKS, TOUR
from .outputs import LearnerSeesProblems, check_notebook, describe

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _resolve(names) -> list[str]:
    if names is None:
        return list(TOUR)
    if names == "all":
        return list(NOTEBOOKS)
    out = []
    for name in ([names] if isinstance(names, str) else names):
        name = str(name).removesuffix(".ipynb")
        matches = [n for n in NOTEBOOKS if n == name or n.startswith(name) or n.split("_", 1)[0] == name.zfill(2)]
        if not matches:
            raise ValueError(f"unknown notebook {name!r}; valid: {NOTEBOOKS} (or their numbers 0-{len(NOTEBOOKS) - 1})")
        out.append(matches[0])
    return out


def export_html(notebook: Path) -> Path:
    """nbconvert an executed notebook to a standalone HTML file next to it (figures included)."""
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(notebook), as_version=4))
    html = Path(notebook).with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def _kernel_manager_class():
    """The kernels' manager: Unix sockets where the system has them (a TCP kernel makes ipykernel warn, for every
    notebook, that its traffic is unencrypted, and opens a port), else jupyter_client's TCP one."""
    from jupyter_client.manager import KernelManager
    from traitlets import default
    prefix = os.path.join(tempfile.gettempdir(), "wellread-kernel-")  # + 12 hex digits, then -1 to -5 per socket
    if os.name == "nt" or len(prefix) + 14 > 100:  # a socket's path may be at most 103 bytes on macOS, 107 on Linux
        return KernelManager

    class UnixSocketKernelManager(KernelManager):
        @default("transport")
        def _unix_sockets(self):
            return "ipc"

        @default("ip")
        def _socket_path(self):  # one name per kernel (jupyter_client's default would share notebooks/kernel-ipc-*)
            return prefix + uuid.uuid4().hex[:12]
    return UnixSocketKernelManager


def run_notebooks(names=None, budget: str = "classroom", student="tiny", seed: int = 0, out_dir=None,
                  html: bool = True, quiet: bool = False, parameters: dict | None = None,
                  kernel_name: str = "python3") -> Path:
    """Execute notebooks in order with papermill (BUDGET, STUDENT, SEED, OUT_DIR passed), cwd notebooks/.

    `names`: None = notebooks 0-5 (lessons.TOUR), "all" = 0-6, or a list of names or numbers ("03", 4).

    Each executed notebook (and, with `html`, its HTML export) is written to `out_dir` (default
    runs/tour/<YYYYmmdd-HHMMSS>/) with the JSON summary it writes, and timings.json: each notebook's seconds and the
    stages it built (stage_table prints them); returns `out_dir`. A failing notebook stops the tour with
    papermill's error (its partly executed copy is kept). Then what each notebook shows is checked
    (outputs.check_notebook): any problem raises LearnerSeesProblems naming notebook, cell and what is wrong."""
    import papermill as pm
    from .cache import runs_dir
    out_dir = Path(out_dir) if out_dir else runs_dir() / "tour" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    timings, problems, kernel_manager_class = {}, [], _kernel_manager_class()
    for name in _resolve(names):
        params = {"BUDGET": budget, "STUDENT": student, "SEED": seed, "OUT_DIR": str(out_dir), **(parameters or {})}
        started = time.time()
        if not quiet:
            print(f"[tour] {name} (budget {budget}, student {student}, seed {seed})", flush=True)
        pm.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(out_dir / f"{name}.ipynb"), parameters=params,
                            kernel_name=kernel_name, kernel_manager_class=kernel_manager_class,
                            cwd=str(NOTEBOOK_DIR), progress_bar=False, log_output=not quiet)
        ended = time.time()
        timings[name] = {"seconds": round(ended - started, 1), "builds": cache.builds_between(started, ended)}
        problems += check_notebook(out_dir / f"{name}.ipynb", name=name)  # what the learner sees, not only that it ran
        if html:
            export_html(out_dir / f"{name}.ipynb")
        if not quiet:
            print(f"[tour] {name} done in {timings[name]['seconds']:.0f} s", flush=True)
    (out_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    if problems:  # after every notebook ran: one tour names all of them (the full list beside the copies)
        (out_dir / "problems.txt").write_text("".join(f"{p}\n" for p in problems))
        raise LearnerSeesProblems(f"the tour ran, but {describe(problems)} (all of them: {out_dir / 'problems.txt'})")
    return out_dir


def stage_table(out_dir):
    """Where the tour's time went: per notebook, the seconds of each kind of stage it built (pre-training, the
    teacher, its logits, fine-tuning, distillation, ...) and the rest (kernel start, evaluation, latency, plots)."""
    import pandas as pd
    path = Path(out_dir) / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    rows = []
    for notebook, t in timings.items():
        built = {}
        for b in t["builds"]:
            built.setdefault(b["stage"], []).append(b["seconds"])
        rows += [{"notebook": notebook, "stage": stage, "built": len(s), "seconds": round(sum(s))}
                 for stage, s in built.items()]
        rows.append({"notebook": notebook, "stage": "other (kernel, evaluation, latency, plots)", "built": None,
                     "seconds": round(t["seconds"] - sum(sum(s) for s in built.values()))})
        rows.append({"notebook": notebook, "stage": "= notebook total", "built": None, "seconds": round(t["seconds"])})
    # Int64: a count prints as 2, not 2.0, beside the rows that count none
    return pd.DataFrame(rows, columns=["notebook", "stage", "built", "seconds"]).astype({"built": "Int64"})


def stage_text(table) -> str:
    """The stage table as `wellread tour` prints it: a blank where a row counts no builds (pandas shows <NA>)."""
    return table.astype({"built": object}).fillna({"built": ""}).to_string(index=False)


def methods_table(out_dir):
    """The tour's headline: each method's accuracy and CPU latency for the chosen student (from notebook 4)."""
    import pandas as pd
    path = Path(out_dir) / "04_pretrained_distillation.json"
    if not path.exists():
        return None
    numbers = json.loads(path.read_text())["numbers"]
    rows = [{"method": method, **{k: v[k] for k in ("val_acc", "test_acc", "latency_ms", "params") if k in v}}
            for method, v in numbers["methods"].items()]
    teacher = Path(out_dir) / "02_teacher.json"
    if teacher.exists():
        t = json.loads(teacher.read_text())["numbers"]
        rows.append({"method": "teacher", "val_acc": t.get("teacher_val_acc"), "test_acc": t.get("teacher_test_acc"),
                     "latency_ms": numbers.get("teacher_latency_ms"), "params": t.get("teacher_params")})
    return pd.DataFrame(rows)
