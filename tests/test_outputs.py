"""The output checker fails on what a learner would see wrong, naming the notebook and the cell; a clean notebook
passes. Notebooks are built here with nbformat (no kernel): a copy of an executed lesson, with one problem planted."""
import ast
import copy
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from wellread import lessons, outputs, plots
from wellread.outputs import PLOTLY, WIDGET_STATE, WIDGET_VIEW

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
FIGURE = {"data": [{"type": "scatter", "x": [1, 2], "y": [0.7, 0.8]}], "layout": {"title": {"text": "ok"}}}
TABLE = pd.DataFrame({"method": ["basic", "pd"], "test acc": [0.71, 0.74]})


def _display(data: dict, kind="display_data") -> dict:
    extra = {"execution_count": 1} if kind == "execute_result" else {}
    return {"output_type": kind, "metadata": {}, "data": data, **extra}


def _stream(text, name="stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _bar(model: str, label: str) -> dict:
    """A tqdm.notebook bar as an executed notebook stores it: a view of an HBox whose HTML child holds the label."""
    return _display({WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model},
                     "text/plain": f"{label}:   0%|          | 0/8 [00:00<?, ?it/s]"})


def _executed():
    """A small executed lesson: prose, a printed result, a figure, a table, a progress bar, a verdict."""
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_markdown_cell("# A lesson\nNone of this is a number: none, nothing, inference."),
             nbformat.v4.new_code_cell("lesson = lessons.setup(...)"), nbformat.v4.new_code_cell("result = run()"),
             nbformat.v4.new_code_cell("plots.method_bars(table).show()"), nbformat.v4.new_code_cell("table")]
    cells[1].outputs = [_stream("PD with 625 vs 5,000 transfer examples: 0.712 -> 0.741 (±1.2 points)\n"
                                "Measured: 0.74. No prediction made (MY_PREDICTION is None): write yours.\n")]
    cells[2].outputs = [_bar("hbox1", "fine-tune L2/H128 (pre-trained)"),
                        _stream("distil into L2/H128: 100%|##########| 8/8 [00:01<00:00, 5.2it/s]\r\n", "stderr")]
    cells[3].outputs = [_display({PLOTLY: FIGURE, "text/plain": "Figure"})]
    cells[4].outputs = [_display({"text/plain": TABLE.to_string(), "text/html": TABLE.to_html()}, "execute_result")]
    for cell in cells[1:]:
        cell.outputs = [nbformat.from_dict(output) for output in cell.outputs]
    nb.cells = cells
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {
        "hbox1": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_html1", "IPY_MODEL_bar1"]}},
        "html1": {"model_name": "HTMLModel", "state": {"value": "fine-tune\u2007L2/H128\u2007(pre-trained):\u2007100%"}},
        "bar1": {"model_name": "FloatProgressModel", "state": {"value": 8.0, "max": 8.0}}}}}
    return nbformat.reads(nbformat.writes(nb), as_version=4)


def test_a_clean_notebook_passes(tmp_path):
    nbformat.write(_executed(), tmp_path / "05_what_matters.ipynb")
    assert outputs.check_notebook(tmp_path / "05_what_matters.ipynb") == []
    outputs.require_clean(_executed())


def _plant_empty_figure(nb):
    nb.cells[3].outputs[0]["data"][PLOTLY] = {"data": [{"type": "scatter", "x": [], "y": []}],
                                              "layout": {"title": {"text": "Tiny: accuracy vs transfer-set size"}}}
    return 3


def _plant_nan_summary(nb):
    nb.cells[1].outputs[0]["text"] = "PD with 625 vs 5,000 transfer examples: nan -> nan\n"
    return 1


def _plant_none(nb):
    nb.cells[1].outputs[0]["text"] = "teacher accuracy: None\n"
    return 1


def _plant_nan_in_a_table(nb):
    table = TABLE.assign(**{"test acc": [0.71, float("nan")]})
    nb.cells[4].outputs[0]["data"] = {"text/plain": table.to_string(), "text/html": table.to_html()}
    return 4


def _plant_empty_table(nb):
    empty = TABLE.iloc[:0]
    nb.cells[4].outputs[0]["data"] = {"text/plain": empty.to_string(), "text/html": empty.to_html()}
    return 4


def _plant_empty_styled_table(nb):
    nb.cells[4].outputs[0]["data"] = {"text/plain": "<pandas.io.formats.style.Styler at 0x7f>",
                                      "text/html": TABLE.iloc[:0].style.to_html()}
    return 4


def _plant_hashed_widget_bar(nb):
    label = nb.metadata["widgets"][WIDGET_STATE]["state"]["html1"]["state"]
    label["value"] = "fine-tune\u2007b0f04b2a2e1c:\u2007100%"
    return 2


def _plant_hashed_text_bar(nb):
    nb.cells[2].outputs[1]["text"] = "fine-tune b0f04b2a2e1c: 100%|##########| 8/8 [00:01<00:00, 5.2it/s]\n"
    return 2


def _plant_error(nb):
    nb.cells[2].outputs.append(nbformat.from_dict({"output_type": "error", "ename": "KeyError", "evalue": "'transfer'",
                                                   "traceback": ["KeyError: 'transfer'"]}))
    return 2


def _plant_warning(nb):
    nb.cells[2].outputs.append(nbformat.from_dict(_stream(
        "/x/site-packages/torch/utils.py:12: UserWarning: something the lesson never explains\n"
        "  warnings.warn(\n", "stderr")))
    return 2


PLANTED = {  # what is planted -> what the checker must say about it
    _plant_empty_figure: "a figure with no data: 'Tiny: accuracy vs transfer-set size'",
    _plant_nan_summary: "a missing number ('nan') in: PD with 625 vs 5,000 transfer examples: nan -> nan",
    _plant_none: "a missing number (': None')",
    _plant_nan_in_a_table: "a missing number ('NaN')",
    _plant_empty_table: "an empty table",
    _plant_empty_styled_table: "an empty table",
    _plant_hashed_widget_bar: "a progress bar named by a hash (b0f04b2a2e1c)",
    _plant_hashed_text_bar: "a progress bar named by a hash (b0f04b2a2e1c)",
    _plant_error: "an error: KeyError: 'transfer'",
    _plant_warning: "stderr a learner would see: /x/site-packages/torch/utils.py:12: UserWarning",
}


@pytest.mark.parametrize("plant", PLANTED, ids=lambda f: f.__name__.removeprefix("_plant_"))
def test_each_planted_problem_is_named_with_its_notebook_and_cell(plant, tmp_path):
    nb = copy.deepcopy(_executed())
    cell = plant(nb)
    nbformat.write(nb, tmp_path / "05_what_matters.ipynb")
    problems = outputs.check_notebook(tmp_path / "05_what_matters.ipynb")
    assert problems and {p.cell for p in problems} == {cell}, problems
    assert any(PLANTED[plant] in str(p) for p in problems), problems
    assert str(problems[0]).startswith(f"05_what_matters, cell {cell} [{nb.cells[cell].id}]: ")
    with pytest.raises(outputs.LearnerSeesProblems, match=rf"05_what_matters, cell {cell} \["):
        outputs.require_clean(tmp_path / "05_what_matters.ipynb")


def test_an_explained_line_can_be_allowed():
    nb = _executed()
    _plant_warning(nb)
    allow = [(r"UserWarning: something the lesson never explains|^\s*warnings\.warn\($", "explained in cell 2")]
    assert outputs.check_notebook(nb, allow) == []
    assert all(len(entry) == 2 and entry[1] for entry in outputs.ALLOWED), "every allowed line says why"


def test_prose_and_hashes_in_paths_are_not_problems():
    nb = _executed()
    nb.cells[1].outputs[0]["text"] += ("None of the runs diverged; none is missing. Inference took 12 ms.\n"
                                       "artifacts in runs/finetune/b0f04b2a2e1c; year 2019; 1234567890 tokens\n")
    assert outputs.check_notebook(nb) == []


def test_error_bars_only_where_there_are_seeds():
    one = pd.DataFrame({"start": ["none", "own"], "size": ["L2/H128"] * 2, "source": ["your runs"] * 2,
                        "recipe": ["fine-tuned", "distilled"], "test_acc": [0.7, 0.72], "test_sd": [None, None],
                        "seeds": [1, 1]})
    fig = plots.starts_bars(one)
    assert "one seed" in fig.layout.title.text and "over seeds" not in fig.layout.title.text
    assert all(trace.error_y.visible is False for trace in fig.data)
    many = plots.starts_bars(one.assign(seeds=[3, 3], test_sd=[0.01, 0.02]))
    assert "mean ± sd over seeds" in many.layout.title.text and all(t.error_y.visible for t in many.data)


def test_line_charts_draw_error_bars_only_where_there_are_seeds():
    one = pd.DataFrame({"method": ["d", "d"], "x": [625, 5000], "test_acc": [0.70, 0.72], "variant": ["", ""]})
    fig = plots.experiment(one, "x", title="Accuracy vs transfer-set size")
    assert fig.layout.title.text.endswith("(one seed)") and fig.data[0].error_y.visible is False
    many = plots.experiment(pd.concat([one, one.assign(test_acc=[0.71, 0.74])]), "x", title="Accuracy")
    assert "mean ± sd over seeds" in many.layout.title.text and many.data[0].error_y.visible
    rows = pd.DataFrame({"steps": [0, 100, 200], "pretrain_tokens": [0, 1e6, 2e6], "test_acc": [0.7, 0.71, 0.72],
                         "heldout_loss": [None, 7.3, 7.2], "unigram_loss": [7.35] * 3,
                         "labels": ["all"] * 3, "seed": [0, 0, 0]})
    curve = plots.reading_curve(rows)
    assert all(t.error_y.visible is False for t in curve.data if t.error_y and t.error_y.array is not None)


@pytest.mark.parametrize("name", lessons.NOTEBOOKS)
def test_no_notebook_ends_on_plumbing(name):
    """The last cell is something a learner reads; the summary the tests read is saved quietly inside a lesson cell."""
    cells = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    last = ast.parse(code[-1].source).body[-1]
    shown = last.value if isinstance(last, ast.Expr) else None
    assert not isinstance(shown, (ast.Dict, ast.DictComp)), f"{name}: the last code cell shows a dict"
    assert not (isinstance(last, ast.Assign) and isinstance(last.value, ast.Dict)), f"{name}: ends on a summary dict"
    printed = isinstance(shown, ast.Call) and getattr(shown.func, "id", "") == "print"
    assert cells[-1].cell_type == "markdown" or printed, f"{name}: the last cell is neither takeaways nor a printed summary"
    sources = "\n".join(c.source for c in code)
    assert "lesson.save(" in sources and "print(\"saved\"" not in sources and "summary = {" not in sources


def test_the_tour_fails_loudly_naming_notebook_cell_and_problem(tmp_path, monkeypatch, capsys):
    """`wellread tour` checks every executed copy: exit 2, one line naming notebook, cell and problem; all in a file."""
    import papermill

    from wellread import cli, tour

    def execute(source, output, **_):  # papermill's part, without a kernel: an executed copy with an empty figure
        nb = _executed()
        _plant_empty_figure(nb)
        nbformat.write(nb, output)
    monkeypatch.setattr(papermill, "execute_notebook", execute)
    with pytest.raises(outputs.LearnerSeesProblems, match=r"00_students, cell 3 \[[^]]+\]: a figure with no data"):
        tour.run_notebooks(["00"], budget="smoke", out_dir=tmp_path / "one", html=False, quiet=True)
    assert cli.main(["tour", "--budget", "smoke", "--out", str(tmp_path / "all"), "--no-html", "--quiet"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("wellread: the tour ran, but 6 problem(s) a learner would see: 00_students, cell 3 [")
    assert "'Tiny: accuracy vs transfer-set size'" in line and len(line.splitlines()) == 1
    listed = (tmp_path / "all" / "problems.txt").read_text().splitlines()
    assert [p.split(",")[0] for p in listed] == list(lessons.TOUR)
