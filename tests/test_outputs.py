"""The output checker fails on what a learner would see wrong, naming the cell; a clean notebook passes."""
import nbformat
import pytest

from wellread import outputs


def _notebook(*outputs_per_cell):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a lesson")]
    for cell_outputs in outputs_per_cell:
        cell = nbformat.v4.new_code_cell("x = 1")
        cell.outputs = [nbformat.from_dict(o) for o in cell_outputs]
        nb.cells.append(cell)
    return nb


FIGURE = {"data": [{"type": "scatter", "x": [1, 2], "y": [0.7, 0.8]}], "layout": {"title": {"text": "ok"}}}
CLEAN = [{"output_type": "stream", "name": "stdout", "text": "PD with 625 vs 5,000 transfer examples: 0.71 -> 0.74\n"},
         {"output_type": "display_data", "metadata": {}, "data": {outputs.PLOTLY: FIGURE, "text/plain": "Figure"}},
         {"output_type": "stream", "name": "stderr", "text": "fine-tune L2/H128 (from pretrain): 100%|####| 8/8\n"}]


def test_a_clean_notebook_passes():
    assert outputs.check_notebook(_notebook(CLEAN)) == []


@pytest.mark.parametrize("planted, what", [
    ({"output_type": "display_data", "metadata": {},
      "data": {outputs.PLOTLY: {"data": [], "layout": {"title": {"text": "Tiny: accuracy vs transfer-set size"}}}}},
     "a figure with no data (Tiny: accuracy vs transfer-set size)"),
    ({"output_type": "stream", "name": "stdout", "text": "PD with 625 vs 5,000 transfer examples: nan -> nan\n"},
     "a missing number ('nan')"),
    ({"output_type": "stream", "name": "stdout", "text": "teacher accuracy: None\n"}, "a missing number (': None')"),
    ({"output_type": "execute_result", "execution_count": 1, "metadata": {},
      "data": {"text/plain": "Empty DataFrame\nColumns: [a]\nIndex: []", "text/html": "<table><tbody></tbody></table>"}},
     "an empty table"),
    ({"output_type": "stream", "name": "stderr", "text": "fine-tune b0f04b2a2e1c: 100%|####| 8/8\n"},
     "a progress bar named by a hash (b0f04b2a2e1c)"),
    ({"output_type": "error", "ename": "KeyError", "evalue": "'transfer'", "traceback": []}, "an error: KeyError"),
    ({"output_type": "stream", "name": "stderr", "text": "UserWarning: something the lesson never explains\n"},
     "a warning or error a learner would see"),
])
def test_each_planted_problem_is_named_with_its_cell(planted, what):
    problems = outputs.check_notebook(_notebook(CLEAN, [planted]), "05_what_matters")
    assert problems and all(p.cell == 2 for p in problems), problems  # the second code cell, after the markdown
    assert what in str(problems[0]) and str(problems[0]).startswith("05_what_matters, cell 2: ")
    with pytest.raises(ValueError, match="05_what_matters, cell 2"):
        outputs.require_clean(_notebook(CLEAN, [planted]), "05_what_matters")
