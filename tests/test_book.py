"""The book's sources (wellread/book.py) from a tour's executed copy, without building the site: the note under each
lesson's title, figures drawn by the site's one plotly.js, widgets frozen, links kept inside the book or sent to GitHub.
(The built site itself is checked in a browser by tests/test_browser.py.)"""
import json
import re

import nbformat
import pytest

from wellread import book
from wellread.lessons import REPO_URL, install_cell

pytest.importorskip("plotly")

TQDM_STATE = {  # what papermill saves for one finished tqdm bar: an HBox of HTML, FloatProgress, HTML
    "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]}},
    "left": {"model_name": "HTMLModel", "state": {"value": "fine-tune L2/H128: 100%"}},
    "bar": {"model_name": "FloatProgressModel", "state": {"value": 10.0, "max": 10.0}},
    "right": {"model_name": "HTMLModel", "state": {"value": " 10/10 [00:01&lt;00:00]"}},
    "pick": {"model_name": "VBoxModel", "state": {"children": []}},
}


def _executed(path):
    """A small stand-in for a tour's executed copy: install cell, title, injected parameters, a figure with the
    notebook renderer's plotly.js, a progress bar, a picker and a hidden solution."""
    v4 = nbformat.v4
    figure = {"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {"title": {"text": "t"}}}
    cells = [v4.new_code_cell(install_cell()), v4.new_markdown_cell("# 9 · A lesson\n\nWhat it is about."),
             v4.new_code_cell("BUDGET = 'smoke'", metadata={"tags": ["injected-parameters"]}),
             v4.new_code_cell("fig.show()", outputs=[
                 v4.new_output("display_data", {"text/html": "<script>/** plotly.js v4 */ window.Plotly = Plotly;</script>"}),
                 v4.new_output("display_data", {book.PLOTLY: figure, "text/html": "<div>cdn copy</div>"})]),
             v4.new_code_cell("train()", outputs=[v4.new_output("display_data", {
                 book.WIDGET: {"model_id": "box", "version_major": 2, "version_minor": 0}, "text/plain": "0%"})]),
             v4.new_code_cell("display(picker)", outputs=[v4.new_output("display_data", {
                 book.WIDGET: {"model_id": "pick", "version_major": 2, "version_minor": 0}, "text/plain": "VBox()"})]),
             v4.new_code_cell("reference()", metadata={"jupyter": {"source_hidden": True}})]
    nb = v4.new_notebook(cells=cells, metadata={
        "papermill": {"parameters": {"BUDGET": "smoke", "STUDENT": "tiny", "SEED": 0}, "duration": 12.3},
        "widgets": {book.WIDGET_STATE: {"state": TQDM_STATE, "version_major": 2, "version_minor": 0}}})
    nbformat.write(nb, str(path))
    return path


def test_a_lesson_page_says_what_made_it_and_draws_its_figures_offline(tmp_path):
    provenance = {"commit": "abc1234", "machine": "x86_64  x2", "date": "2026-12-04T04:36:13", "cpu_flags": ["avx2"],
                  "precision": "fp32", "precision_why": "the CPU has no native bf16"}
    figures = book.book_notebook(_executed(tmp_path / "in.ipynb"), tmp_path / "out.ipynb", {"provenance": provenance})
    nb = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert figures == 1 and "widgets" not in nb.metadata  # no widget manager fetched from a CDN
    title = nb.cells[1].source
    assert title.startswith("# 9 · A lesson\n") and "What it is about." in title
    for fact in ("x86_64 x2", "avx2", "**smoke**", "**fp32**", "`abc1234`", "2026-12-04 04:36", "12 s", "`tiny`"):
        assert fact in title, fact
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert "remove-cell" in nb.cells[0].metadata.tags and "hide-input" in nb.cells[-1].metadata.tags
    shown = nb.cells[2].outputs
    assert len(shown) == 1 and set(shown[0].data) == {"text/html"}, "plotly.js is dropped: the site loads it once"
    html = shown[0].data["text/html"]
    assert "Plotly.newPlot" in html and "plotly.js v" not in html and "cdn" not in html.lower()
    assert '<progress value="10.0" max="10.0">' in nb.cells[3].outputs[0].data["text/html"]
    assert "fine-tune L2/H128: 100%" in nb.cells[3].outputs[0].data["text/html"]
    assert "interactive control (VBox)" in nb.cells[4].outputs[0].data["text/html"]


def test_an_unrecorded_machine_says_so():
    note = book.header({"BUDGET": "classroom"}, {}, None)
    assert "Precision: not recorded" in note and "Machine: not recorded" in note


def test_links_stay_in_the_book_or_go_to_github():
    pages, images = {"README.md", "docs/results.md"}, set()
    text = ("[r](docs/results.md#the-reading-curve) ![c](data/results/reading_curve.svg) [s](benchmarks/avx2.sh) "
            "[b](benchmarks/) [w](https://example.org) [a](#here)")
    out = book.page_links(text, "README.md", pages, images)
    assert "(docs/results.md#the-reading-curve)" in out and "(data/results/reading_curve.svg)" in out
    assert f"({REPO_URL}/blob/main/benchmarks/avx2.sh)" in out and f"({REPO_URL}/tree/main/benchmarks)" in out
    assert "(https://example.org)" in out and "(#here)" in out and images == {"data/results/reading_curve.svg"}


def test_the_sources_hold_every_lesson_and_page(tmp_path):
    tour = tmp_path / "tour"
    tour.mkdir()
    _executed(tour / "00_students.ipynb")
    staged = book.stage(tour, tmp_path / "src")
    assert staged["lessons"] == ["00_students"] and "docs/results.md" in staged["guides"]
    toc = json.loads((tmp_path / "src" / "_toc.yml").read_text())
    assert toc["root"] == "README" and toc["parts"][0]["chapters"] == [{"file": "notebooks/00_students"}]
    assert (tmp_path / "src" / "data" / "results" / "reading_curve.svg").exists()  # the README's figure
    assert (tmp_path / "src" / "_static" / "plotly.min.js").stat().st_size > 1e6
    conf = (tmp_path / "src" / "conf.py").read_text()
    compile(conf, "conf.py", "exec")
    assert "'nb_execution_mode': 'off'" not in conf and "nb_execution_mode = 'off'" in conf
    # every relative link left in a page names a page or an image of the book
    for page in (tmp_path / "src").rglob("*.md"):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if not re.match(r"^[a-z]+:|#", target):
                assert (page.parent / target.partition("#")[0]).exists(), (page.name, target)
    with pytest.raises(FileNotFoundError, match="make tour"):
        book.stage(tmp_path / "empty", tmp_path / "src2")
