"""What a learner sees in an executed notebook, checked: figures that hold data, numbers that are numbers, tables with
rows, progress bars with names, no error and no unexplained warning. The notebook tests and `wellread tour` use it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

PLOTLY = "application/vnd.plotly.v1+json"
DATA_KEYS = ("x", "y", "z", "values", "lat", "lon", "r", "theta", "a", "b", "cells", "dimensions", "open")
# A missing number shown where a number is meant: pandas' NaN, float nan/inf, or a None printed beside an arrow,
# a colon or an equals sign ("nan -> nan", "accuracy: None").
MISSING = re.compile(r"(?<![\w.])(?:nan|NaN|-?inf)(?![\w(])|(?:->|→|:|=)\s*None\b|\bNone\s*(?:->|→)")
# A progress bar named by a cache key ("fine-tune b0f04b2a2e1c: 100%|...") instead of what it trains.
HASHED_BAR = re.compile(r"(?:^|[\s/(])([0-9a-f]{10,})\b[^\n:|]*:\s*\d+%\|")
# What a learner may see on stderr without it being a problem: (pattern, why it is fine).
ALLOWED = [
    (r"%\|", "a progress bar"),
    (r"^\s*$", "a blank line"),
    (r"Kernel is running over TCP without encryption", "papermill's kernel start, not the lesson"),
    (r"^wellread: warning: .*(emulated|slow on this CPU|will take long|will not fit)",
     "the kit's own warning before a costly choice, explained where it is printed"),
    (r"^[\w./ -]*: (the spaces around|column)", "the kit's note on a learner's own file"),
]


@dataclass(frozen=True)
class Problem:
    notebook: str
    cell: int  # the cell's index in the notebook (as Jupyter counts, from 0)
    what: str

    def __str__(self) -> str:
        return f"{self.notebook}, cell {self.cell}: {self.what}"


def _traces_with_data(figure: dict) -> int:
    return sum(1 for trace in figure.get("data", []) if any(_filled(trace.get(key)) for key in DATA_KEYS))


def _filled(value) -> bool:
    if isinstance(value, dict):  # plotly's typed arrays: {"dtype": ..., "bdata": ...}
        return bool(value.get("bdata") or value.get("_inputArray") or value.get("values"))
    return value is not None and (not hasattr(value, "__len__") or len(value) > 0)


def _empty_table(html: str, plain: str) -> bool:
    if "Empty DataFrame" in plain:
        return True
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    return "<table" in html and (body is None or "<tr" not in body.group(1))


def _unexplained(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if not any(re.search(pattern, line) for pattern, _ in ALLOWED)
            and re.search(r"warn|error|traceback|exception", line, re.I)]


def check_notebook(notebook, name: str | None = None) -> list[Problem]:
    """Every problem a learner would see in an executed notebook (a path or an nbformat node), cell by cell."""
    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, (str, Path)) else notebook
    name = name or (Path(notebook).stem if isinstance(notebook, (str, Path)) else "notebook")
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            found = []
            kind = output.get("output_type")
            if kind == "error":
                found.append(f"an error: {output.get('ename')}: {output.get('evalue')}")
            text = output.get("text", "") if kind == "stream" else ""
            data = output.get("data", {})
            plain, html = data.get("text/plain", ""), data.get("text/html", "")
            if PLOTLY in data and not _traces_with_data(data[PLOTLY]):
                title = data[PLOTLY].get("layout", {}).get("title", {})
                found.append(f"a figure with no data ({title.get('text', 'untitled') if isinstance(title, dict) else title})")
            shown = text if output.get("name") != "stderr" else ""
            for source in (shown, plain if PLOTLY not in data else ""):
                for hit in MISSING.finditer(source):
                    line = source[source.rfind("\n", 0, hit.start()) + 1:source.find("\n", hit.end())]
                    found.append(f"a missing number ({hit.group(0).strip()!r}) in: {line.strip()[:120]}")
            if _empty_table(html, plain):
                found.append("an empty table")
            for hit in HASHED_BAR.finditer(text + "\n" + plain):
                found.append(f"a progress bar named by a hash ({hit.group(1)})")
            if output.get("name") == "stderr":
                found += [f"a warning or error a learner would see: {line.strip()[:160]}" for line in _unexplained(text)]
            problems += [Problem(name, index, what) for what in found]
    return problems


def require_clean(notebook, name: str | None = None) -> None:
    """Raise naming every problem in an executed notebook (notebook, cell, what is wrong), if any."""
    problems = check_notebook(notebook, name)
    if problems:
        raise ValueError(f"{len(problems)} problem(s) a learner would see: " + "; ".join(map(str, problems[:10])))
