"""The README is a front door (at most 2,000 words) and every relative link in it and in docs/ resolves."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().split()) <= 2000


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def test_the_slug_rule_matches_githubs():
    page = ROOT / "docs" / "library.md"
    assert "data-offline-real-fetched--never-copied-here" in anchors(page)


# The guide's answer key cites the committed tour (data/tour/: the notebooks' saved summaries and timings.json) as
# `.743<!-- tour 03_distillation basic_test_acc -->`: a number, then the summary and the key it comes from.
# `points A - B` cites a gap in points, `diff A - B` a plain difference, `minutes NOTEBOOK` a notebook's minutes by the
# tour's clock (`minutes all`: the whole tour's).
CITED = re.compile(r"([+−-]?\d*\.?\d+)\s*<!-- tour (\S+) (.+?) -->")


def _lookup(summary: dict, path: str):
    value = summary
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return float(value)


def _cited_value(source: str, expression: str) -> float:
    tour = ROOT / "data" / "tour"
    if source == "minutes":
        timings = json.loads((tour / "timings.json").read_text())
        names = timings if expression == "all" else [expression]
        return sum(timings[name]["seconds"] for name in names) / 60
    numbers = json.loads((tour / f"{source}.json").read_text())["numbers"]
    for kind, scale in (("points ", 100), ("diff ", 1)):
        if expression.startswith(kind):
            first, second = expression.removeprefix(kind).split(" - ")
            return scale * (_lookup(numbers, first) - _lookup(numbers, second))
    return _lookup(numbers, expression)


def _wrong_citations(guide: str) -> list[str]:
    wrong = []
    for shown, source, expression in CITED.findall(guide):
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        value = _cited_value(source, expression)
        if round(value, decimals) != round(float(shown.replace("−", "-")), decimals):
            wrong.append(f"{shown} cites {source} {expression} = {value:.4f}")
    return wrong


def test_the_guides_answer_key_is_the_committed_tour():
    guide = (ROOT / "docs" / "teachers.md").read_text()
    assert len(CITED.findall(guide)) >= 10, "the answer key cites the committed tour"
    assert not _wrong_citations(guide), _wrong_citations(guide)
    stale = guide.replace(".798<!-- tour 02_teacher teacher_test_acc -->", ".800<!-- tour 02_teacher teacher_test_acc -->")
    assert _wrong_citations(stale) == [".800 cites 02_teacher teacher_test_acc = 0.7979"] * 2
