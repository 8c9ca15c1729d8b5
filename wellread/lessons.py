"""Helpers the notebooks share: the install cell, setting up a lesson, live figures, summaries.
(Published and committed results are in results.py.)

Nothing here trains anything: a notebook's cells call the library (recipes, pretrain, ...) and use
these helpers only to resolve their parameters, show figures and record their key numbers.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import checks
from .network import hub_online  # noqa: F401  (notebook 6 probes the hub before transformers loads)

# The one place that says where the kit comes from when a notebook runs somewhere it is missing
# (Colab, a bare Jupyter). Every notebook's first cell is `install_cell()`, checked by a test.
REPO_URL = "https://github.com/wellread-kit/wellread"
INSTALL_DIR = "~/wellread"   # a clone, not a wheel: the offline data pack needs data/manifest.json

NOTEBOOKS = ["00_students", "01_pretraining", "02_teacher", "03_distillation", "04_pretrained_distillation",
             "05_what_matters", "06_paper_scale"]
TOUR = NOTEBOOKS[:6]  # `wellread tour`: 0-5; notebook 6 is for a GPU with internet (offline it runs stand-ins)

# How much of the 6x4 latency grid notebook 0 measures, per budget; cached per machine afterwards. Measured on the
# 2-core dev machine (fp32): all 24 sizes cost ~5.6 BERT-Base passes per round, Base at batch 32 ~4.3 s, so the
# whole grid at 3 rounds takes ~1.5-2 min (3 min with the cores busy); the five named sizes ~1.6 Base passes.
SPEED_PLANS = {
    "smoke": {"sizes": ["tiny", "mini", "small", "base"], "batches": [1], "repeats": 1},
    # the five named sizes and the student; the whole grid is shown from speed.committed_grid(), labelled. Batch 8, not
    # 32: on the 2-core AVX2 laptop Base's three passes at 32 x 128 tokens took 19 s, at 8 x 128 6 s, and 8 inputs
    # already keep the matrix units busy
    "classroom": {"sizes": ["tiny", "mini", "small", "medium", "base"], "batches": [1, 8], "repeats": 2},
    "paper": {"sizes": None, "batches": [1, 32], "repeats": 3},
}

DEFAULT_STUDENT = "tiny"


def install_cell() -> str:
    """The source of every notebook's first cell: on Colab or a bare Jupyter, clone and install the kit, keeping the
    torch already there (Colab's CUDA build) and adding no Jupyter or papermill; elsewhere it does nothing."""
    return (
        "# On Colab or a bare Jupyter this installs the kit (keeping the torch already there); elsewhere it does nothing.\n"
        "import importlib.metadata, importlib.util, os, subprocess, sys\n"
        "if importlib.util.find_spec(\"wellread\") is None:\n"
        f"    _kit = os.path.expanduser(\"{INSTALL_DIR}\")\n"
        f"    os.path.isdir(_kit) or subprocess.check_call([\"git\", \"clone\", \"-q\", \"--depth\", \"1\", \"{REPO_URL}\", _kit])\n"
        "    _torch = [f\"torch=={importlib.metadata.version('torch')}\"] if importlib.util.find_spec(\"torch\") else []\n"
        "    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"-e\", _kit, *_torch])\n"
        "    sys.path.insert(0, _kit)  # this kernel started before the install"
    )


# ---------------------------------------------------------------------------------------------------
# Where we are running

def in_colab() -> bool:
    return "google.colab" in sys.modules


def plotly_renderer() -> str:
    """The renderer chosen for this environment (override with WELLREAD_PLOTLY_RENDERER).

    - Colab: "colab".
    - Everywhere else: "plotly_mimetype+notebook". JupyterLab and VS Code draw the plotly mimetype;
      the "notebook" half is HTML with plotly.js embedded once per notebook (~5 MB), so an executed
      notebook exported by nbconvert to HTML keeps interactive figures with no internet when viewed.
    """
    if os.environ.get("WELLREAD_PLOTLY_RENDERER"):
        return os.environ["WELLREAD_PLOTLY_RENDERER"]
    return "colab" if in_colab() else "plotly_mimetype+notebook"


def set_renderer(renderer: str | None = None) -> str:
    import plotly.io as pio
    pio.renderers.default = renderer or plotly_renderer()
    return pio.renderers.default


# ---------------------------------------------------------------------------------------------------
# The chosen student carries from notebook 0 to the others

def student_file() -> Path:
    from .cache import runs_dir
    return runs_dir() / "student.json"


def save_student(size) -> Path:
    """Remember the student picked in notebook 0 (runs/student.json) for the later notebooks."""
    from .cache import write_json
    from .sizes import parse_size
    size = parse_size(size)
    write_json(student_file(), {"student": size.short, "name": size.name})
    return student_file()


def chosen_student(student=None):
    """`student` if given, else the one saved by notebook 0's picker, else Tiny -> a Size."""
    from .sizes import parse_size
    if student not in (None, ""):
        return parse_size(student)
    try:
        return parse_size(json.loads(student_file().read_text())["student"])
    except (OSError, ValueError, KeyError, TypeError):
        return parse_size(DEFAULT_STUDENT)


# ---------------------------------------------------------------------------------------------------
# One lesson's resolved parameters

@dataclass
class Lesson:
    name: str
    budget: object          # a budget.Budget
    size: object            # a sizes.Size
    seed: int
    out_dir: Path

    def save(self, numbers: dict) -> None:
        """Write the lesson's numbers to <out_dir>/<name>.json for the tests and the tour; shows nothing (returns None,
        so a cell that ends on it displays no dict or path)."""
        save_summary(self.name, numbers, self.out_dir, precision=self.budget.precision)


def summaries_dir(out_dir=None) -> Path:
    from .cache import runs_dir
    return Path(out_dir).expanduser() if out_dir not in (None, "") else runs_dir() / "notebooks"


class BadParameter(ValueError):
    """A notebook parameter that cannot work: the cell shows the kit's one line, not a traceback."""

    def _render_traceback_(self):  # IPython shows these lines in place of the traceback
        return [f"wellread: {self}"]


def setup(name: str, budget="classroom", student=None, seed: int = 0, out_dir=None, *, task=None,
          task_options=None, renderer=None, quiet: bool = False) -> Lesson:
    """Resolve a notebook's parameters, choose the plotly renderer, and say what will run. `task`: None (the
    embedded Rotten Tomatoes split), a hub task or your own file, with `task_options` (columns, other splits)."""
    from .budget import get_budget, with_task
    from .data import Task
    set_renderer(renderer)
    try:
        resolved = get_budget(budget)
        if task:
            resolved = with_task(resolved, Task.parse(task, **(task_options or {})))
        seed = int(seed) if isinstance(seed, str) and seed.strip().isdigit() else seed  # papermill -r SEED 2
        checks.seed(seed, "SEED")
        lesson = Lesson(name=name, budget=resolved, size=chosen_student(student), seed=seed,
                        out_dir=summaries_dir(out_dir))
    except ValueError as error:
        raise BadParameter(f"{name}: {error}") from None
    from .device import seed_everything
    seed_everything(lesson.seed)  # a cell's own random draws (the random student notebook 1 compares with) repeat
    if not quiet:
        from .cache import runs_dir
        from .estimate import estimate
        from .methods import PD
        print(f"{name}: student {lesson.size} ({lesson.size.short}), budget {lesson.budget.name!r}, task "
              f"{lesson.budget.task.name!r}, seed {lesson.seed}; artifacts in {runs_dir()}")
        cached = [p for stage in ("pretrain", "finetune", "logits", "distill") if (runs_dir() / stage).is_dir()
                  for p in (runs_dir() / stage).iterdir() if p.is_dir() and "." not in p.name]
        print(f"{len(cached)} trained stage(s) are cached there and are reused where this notebook's settings match "
              f"(a prepared pack: `wellread unpack FILE`); training {lesson.size} from nothing here (pre-training + "
              f"distillation) takes {estimate(lesson.size, PD.name, lesson.budget)}.")
        from . import BUSY, IDLE_THREADS
        if IDLE_THREADS[1].startswith(BUSY):
            print(f"Note: {IDLE_THREADS[1]}, so this notebook's training threads sleep whenever they wait, safe beside "
                  "that work but about 1.3x slower on a free machine: for full speed, stop the other work and restart "
                  "this kernel.")
    return lesson


def machine(precision: str = "auto") -> dict:
    """What decides a lesson's speed and numbers besides its budget: the CPU's flags and the precision its stages ran
    with here (and why). The book prints it above each executed lesson."""
    from . import IDLE_THREADS
    from .device import choose_precision, cpu_flags
    precision, why = choose_precision(requested=precision)
    return {"cpu_flags": cpu_flags(), "precision": precision, "precision_why": why, "idle_threads": IDLE_THREADS[0]}


def machine_words(precision: str = "auto") -> str:
    """`machine()` in a line for a figure measured here: "measured on this machine (avx2), fp32"."""
    m = machine(precision)
    return f"measured on this machine ({' '.join(m['cpu_flags']) or 'flags unknown'}), {m['precision']}"


def save_summary(name: str, numbers: dict, out_dir=None, precision: str = "auto") -> Path:
    """Write `<out_dir>/<name>.json` (default runs/notebooks/) atomically: the lesson's key numbers, who made them."""
    from .cache import provenance, write_json
    path = summaries_dir(out_dir) / f"{name}.json"
    write_json(path, {"notebook": name, "numbers": numbers, "provenance": {**provenance(), **machine(precision)}})
    return path


# ---------------------------------------------------------------------------------------------------
# Figures

def verdict(prediction, measured, *, within: float | None = None) -> str:
    """Your prediction beside what the run measured, in one line (printed and returned). A number is right when it
    is `within` of the measurement; anything else when it is the same word or answer."""
    if prediction is None:
        line = (f"Measured: {measured}. No prediction made (MY_PREDICTION is None): write yours in the prediction cell "
                "and run the notebook again before you look.")
    elif within is not None and isinstance(prediction, (int, float)) and isinstance(measured, (int, float)):
        close = abs(prediction - measured) <= within
        line = f"You predicted {prediction:g}; measured {measured:.3g}: {'within' if close else 'not within'} {within:g} of it."
    else:
        same = str(prediction).strip().lower() == str(measured).strip().lower()
        line = f"You predicted {prediction!r}; measured {measured!r}: {'it matches' if same else 'it does not match'}."
    print(line)
    return line


class LiveFigure:
    """A figure shown once and redrawn in place (a display handle, not a widget).

    Works in JupyterLab, Colab and under papermill (which records the last update), so a training
    loop's `on_eval` callback can redraw the curve without any widget state."""

    def __init__(self, fig=None):
        from IPython.display import display
        self.handle = None
        if fig is not None:
            self.handle = display(self._bundle(fig), raw=True, display_id=True)

    @staticmethod
    def _bundle(fig):
        # Not fig._repr_mimebundle_(): under the "notebook" renderer every call re-embeds plotly.js
        # (5 MB), which made an executed notebook 90 MB. plotly.js is loaded once by the notebook's
        # first ordinary figure; updates carry only the figure. Colab draws each output in an iframe of
        # its own, where that first load is not visible: there the figure brings plotly.js from the CDN.
        import json
        import plotly.io as pio
        return {"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig)),
                "text/html": pio.to_html(fig, include_plotlyjs="cdn" if in_colab() else False, full_html=False)}

    def update(self, fig) -> None:
        from IPython.display import display
        if self.handle is None:
            self.handle = display(self._bundle(fig), raw=True, display_id=True)
        else:
            self.handle.update(self._bundle(fig), raw=True)
