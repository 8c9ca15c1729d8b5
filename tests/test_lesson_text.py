"""Lessons that teach: each notebook's prose closes with a summary and questions, stays short cell by cell, and keeps
operational detail (dates, cache paths, command-line flags) out of the lesson; the teachers' guide covers every
notebook of the tour, with answers."""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
TEACHERS = ROOT / "docs" / "teachers.md"
LESSONS = ["00_students", "01_pretraining", "02_teacher", "03_distillation", "04_pretrained_distillation",
           "05_what_matters"]
MAX_WORDS = 150
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
FLAG = re.compile(r" --[a-z]")


def _markdown(name):
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    return nb, [c for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_ends_with_a_summary_and_questions(name):
    nb, _ = _markdown(name)
    closing = [c for c in nb.cells[-4:] if c.cell_type == "markdown"]
    assert any("Summary" in c.source or "Questions" in c.source for c in closing), \
        f"{name}: no markdown cell with 'Summary' or 'Questions' among the last four cells"


@pytest.mark.parametrize("name", LESSONS)
def test_no_markdown_cell_is_longer_than_the_limit(name):
    _, cells = _markdown(name)
    long = {c.get("id", "?"): len(c.source.split()) for c in cells if len(c.source.split()) > MAX_WORDS}
    assert not long, f"{name}: markdown cells over {MAX_WORDS} words (split or shorten them): {long}"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_prose_holds_no_dates_cache_paths_or_flags(name):
    _, cells = _markdown(name)
    for c in cells:
        text = c.source
        where = f"{name}, cell {c.get('id', '?')}"
        assert not DATE.search(text), f"{where}: a date ({DATE.search(text).group()}) belongs in docs/, not the lesson"
        assert "runs/" not in text, f"{where}: a cache path (runs/...) belongs in docs/, not the lesson"
        assert not FLAG.search(text), f"{where}: a command-line flag belongs in docs/, not the lesson"


def test_the_teachers_guide_covers_every_lesson_with_answers():
    assert TEACHERS.exists(), "docs/teachers.md is missing"
    text = TEACHERS.read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    for name in LESSONS:
        number = int(name[:2])
        assert any(name in h or re.search(rf"\bNotebook {number}\b", h) for h in headings), \
            f"docs/teachers.md has no section for {name}"
    assert "answer" in text.lower()


def test_no_budget_version_or_teacher_id_in_a_lesson():
    """Learners track one reference grid: budget versions and teacher ids stay in docs/results.md."""
    import re
    banned = re.compile(r"classroom-v\d|minilm-l6-|mpnet-base-")
    for path in sorted(NOTEBOOK_DIR.glob("0[0-5]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown" or "print(" in cell.source:
                texts = re.findall(r"\"[^\"\n]*\"|'[^'\n]*'", cell.source) if cell.cell_type == "code" else [cell.source]
                found = [t for t in texts if banned.search(t)]
                assert not found, f"{path.name}: {found}"
