"""What a learner sees in an executed notebook, checked: figures that hold data, numbers that are numbers, tables
with rows, progress bars named in words, no error and no unexplained warning. The notebook tests and the tour use it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The trace fields that hold data, over plotly's trace types (bar, scatter, heatmap, pie, table, parcoords, ...).
DATA_KEYS = ("x", "y", "z", "values", "lat", "lon", "r", "theta", "a", "b", "cells", "dimensions", "open", "labels")
# A missing number where a number is meant: nan/inf as a word of its own ("nan -> nan", "0.74 ± nan", a table's NaN),
# pandas' <NA>/NaT, or a None after an arrow or a colon ("accuracy: None"). Prose ("None of", "none") is not one.
MISSING = re.compile(r"(?<![\w.])(?:nan|NaN|-?inf|NaT)(?![\w(])|<NA>|(?:->|→|:)\s*None\b|\bNone\s*(?:->|→)")
MISSING_CELL = re.compile(r"<td[^>]*>\s*(nan|NaN|None|-?inf|NaT|&lt;NA&gt;)\s*</td>")
# A cache key where a name is meant: a word of 10+ hex characters with a letter and a digit in it (a count, a year or
# a word is never one).
HEX_WORD = re.compile(r"(?<![\w.-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{10,}(?![\w/.-])")
PROGRESS = re.compile(r"\d+%\||\d+it \[|\d+/\d+ \[\d")  # a tqdm bar drawn as text
# What a learner may see on stderr (or as an error) without it being a problem: (pattern, why it is fine). Anything
# else there shows as a red box in Jupyter and fails the check until the lesson explains it and it is listed here.
ALLOWED = [
    (PROGRESS.pattern, "a progress bar: tqdm draws its text bars on stderr"),
    (r"Kernel is running over TCP without encryption", "papermill's kernel start, not the lesson"),
    (r"^wellread: warning: .*(emulated|slow on this CPU|will take long|will not fit)",
     "the kit's own warning before a costly choice, explained where it is printed"),
]


@dataclass(frozen=True)
class Problem:
    notebook: str
    cell: int  # the cell's index in the executed notebook (from 0, as nbformat counts; papermill adds one cell)
    what: str
    cell_id: str = ""  # the cell's id, the same in the stored notebook

    def __str__(self) -> str:
        return f"{self.notebook}, cell {self.cell}" + (f" [{self.cell_id}]" if self.cell_id else "") + f": {self.what}"


class LearnerSeesProblems(ValueError):
    """An executed notebook shows a learner something wrong (a ValueError, so the CLI prints it in one line)."""


def check_notebook(notebook, allow=(), *, name: str | None = None) -> list[Problem]:
    """Every problem a learner would see in an executed notebook (a path or an nbformat node), cell by cell.
    `allow`: more (pattern, reason) pairs for stderr lines or errors a lesson explains."""
    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, Path)) else notebook
    name = name or (Path(notebook).stem if isinstance(notebook, (str, Path)) else "notebook")
    allowed = [pattern for pattern, _ in [*ALLOWED, *allow]]
    owners = _widget_cells(nb)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        found = [what for output in cell.get("outputs", []) for what in _output_problems(output, allowed)]
        found += [f"a progress bar named by a hash ({word})"
                  for text in _widget_texts(nb, owners.get(index, ())) for word in HEX_WORD.findall(text)]
        problems += [Problem(name, index, what, cell.get("id", "")) for what in dict.fromkeys(found)]
    return problems


def require_clean(notebook, allow=(), *, name: str | None = None) -> None:
    """Raise LearnerSeesProblems naming every problem (notebook, cell, what is wrong), if there is any."""
    problems = check_notebook(notebook, allow, name=name)
    if problems:
        raise LearnerSeesProblems(describe(problems))


def describe(problems: list[Problem], limit: int = 10) -> str:
    """The problems in one sentence each, the first `limit` of them."""
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problem(s) a learner would see: " + "; ".join(map(str, problems[:limit])) + more


def _output_problems(output, allowed: list[str]) -> list[str]:
    kind, data = output.get("output_type"), output.get("data", {})
    if kind == "error":
        error = f"{output.get('ename')}: {output.get('evalue')}"
        return [] if _allowed(error, allowed) else [f"an error: {' '.join(error.split())[:160]}"]
    if kind == "stream":
        text = "\n".join(_text(output.get("text")).split("\r"))  # tqdm redraws a line with \r
        if output.get("name") == "stderr":
            return ([f"a progress bar named by a hash ({word})"
                     for line in text.splitlines() if PROGRESS.search(line) for word in HEX_WORD.findall(line)]
                    + [f"stderr a learner would see: {line.strip()[:160]}" for line in text.splitlines()
                       if line.strip() and not _allowed(line, allowed)])
        return _missing(text) + (["an empty table"] if "Empty DataFrame" in text else [])
    found = []
    plain, html = _text(data.get("text/plain")), _text(data.get("text/html"))
    if PLOTLY in data:
        figure = data[PLOTLY]
        if not any(_filled(trace.get(key)) for trace in figure.get("data", []) for key in DATA_KEYS):
            found.append(f"a figure with no data: {_title(figure)!r}")
        return found
    if re.search(r"Plotly\.newPlot\(\s*\"[^\"]*\",\s*\[\]", html):  # a figure drawn as HTML only
        found.append("a figure with no data (HTML)")
    if WIDGET_VIEW in data:  # a widget's text is its initial state: names are checked in the widget state
        return found + [f"a progress bar named by a hash ({word})" for word in HEX_WORD.findall(plain)]
    cell = MISSING_CELL.search(html)
    found += _missing(plain) + ([f"a missing number ({cell.group(1)!r}) in a table cell"] if cell else [])
    if "Empty DataFrame" in plain or _empty_table(html):
        found.append("an empty table")
    return found


def _text(value) -> str:
    """An output's text, also as stored in a file (a list of lines)."""
    return "".join(value) if isinstance(value, list) else value or ""


def _missing(text: str) -> list[str]:
    """One problem per line with a missing number, quoting the line."""
    lines = [line for line in text.splitlines() if MISSING.search(line)]
    return [f"a missing number ({MISSING.search(line).group(0).strip()!r}) in: {' '.join(line.split())[:120]}"
            for line in lines[:3]] + ([f"... and {len(lines) - 3} more such lines"] if len(lines) > 3 else [])


def _empty_table(html: str) -> bool:
    """A displayed table with a header and no rows (pandas writes one <tbody>, Styler too)."""
    bodies = re.findall(r"<tbody[^>]*>(.*?)</tbody>", html, re.S)
    return (bool(bodies) and not any("<tr" in body for body in bodies)) or ('class="dataframe' in html and not bodies)


def _filled(value) -> bool:
    if isinstance(value, dict):  # plotly's typed arrays: {"dtype": ..., "bdata": ...}
        return bool(value.get("bdata") or value.get("_inputArray") or value.get("values"))
    return value is not None and (not hasattr(value, "__len__") or len(value) > 0)


def _title(figure: dict) -> str:
    title = figure.get("layout", {}).get("title", "")
    return (title.get("text", "") if isinstance(title, dict) else str(title)) or "untitled"


def _allowed(line: str, allowed: list[str]) -> bool:
    return any(re.search(pattern, line) for pattern in allowed)


def _widget_cells(nb) -> dict[int, list[str]]:
    """Each code cell's widget models: those its outputs display and their children (a tqdm bar is an HBox of a
    label, a bar and a count)."""
    state = _widget_state(nb)
    owners = {}
    for index, cell in enumerate(nb.cells):
        todo = [out["data"][WIDGET_VIEW].get("model_id") for out in cell.get("outputs", [])
                if WIDGET_VIEW in out.get("data", {})]
        seen = []
        while todo:
            model = todo.pop()
            if model in state and model not in seen:
                seen.append(model)
                children = state[model].get("state", {}).get("children", [])
                todo += [c.removeprefix("IPY_MODEL_") for c in children if isinstance(c, str)]
        if seen:
            owners[index] = seen
    return owners


def _widget_state(nb) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _widget_texts(nb, models) -> list[str]:
    """What the learner reads on these widgets: their descriptions and the text of labels and HTML."""
    state = _widget_state(nb)
    texts = []
    for model in models:
        fields = state[model].get("state", {})
        texts += [fields.get("description") or ""]
        if state[model].get("model_name") in ("HTMLModel", "LabelModel"):
            texts += [fields.get("value") or ""]
    return [text.replace("\u2007", " ") for text in texts if isinstance(text, str) and text]
