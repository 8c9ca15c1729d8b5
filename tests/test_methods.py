"""Methods as data: a method is one registry entry that running, the estimate, the plots and the results follow, and
no other module compares a method's name; analyses are typed, and no notebook filters on one no run produces."""
import re
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from wellread import estimate, methods, plots, recipes, results
from wellread.sizes import parse_size

from rows import typed

ROOT = Path(__file__).resolve().parents[1]
NAMES = "|".join(methods.METHODS)


def test_a_toy_method_registered_once_runs_and_appears_everywhere():
    toy = methods.register(replace(methods.BASIC, name="toy", short="Toy", description="random init -> half an epoch",
                                   color="#17becf", config=lambda b: replace(b.finetune, epochs=0.5),
                                   train=lambda run: methods.fine_tuned(replace(
                                       run, budget=replace(run.budget, finetune=replace(run.budget.finetune,
                                                                                         epochs=0.5))))))
    try:
        result = recipes.run("toy", "tiny", "smoke", quiet=True)
        assert result.method == "toy" and 0 <= result.test_acc <= 1
        row = result.record(results.Setting())
        assert row["method"] == "toy" and row["analysis"] == "default"
        guess = estimate.estimate(parse_size("tiny"), "toy", recipes.resolve_budget("smoke"))
        full = estimate.estimate(parse_size("tiny"), "basic", recipes.resolve_budget("smoke"))
        assert 0 < guess.seconds < full.seconds  # half the epochs its config declares
        figure = plots.method_bars(results.results_frame([result.row()]))
        assert figure.data[0].x == (toy.label,) and figure.data[0].marker.color == (toy.color,)
    finally:
        methods.METHODS.pop("toy")
    with pytest.raises(ValueError, match="unknown method 'toy'; valid: "):
        recipes.run("toy", "tiny", "smoke")


def test_no_module_outside_the_registry_compares_a_method_name():
    comparison = re.compile(rf"""(==|!=|\bin \(|isin\(\[)\s*["']({NAMES})["']|["']({NAMES})["']\s*(==|!=)""")
    found = [f"{path.name}:{i}: {line.strip()}" for path in sorted((ROOT / "wellread").rglob("*.py"))
             if path.name != "methods.py" for i, line in enumerate(path.read_text().splitlines(), 1)
             if comparison.search(line)]
    assert not found, found


def test_whole_numbers_and_seeds_are_checked_in_one_place():
    from wellread import checks
    hand_written = re.compile(r"isinstance\([^)]*, int\) or isinstance\([^)]*, bool\)|< 2 \*\* 32")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "wellread").rglob("*.py")) if p.name != "checks.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if hand_written.search(line)]
    assert not found, found
    for bad, message in ((True, "flag=True: use an integer >= 1"), (0, "flag=0: use an integer >= 1"),
                         (2 ** 32, "seed=4294967296: use an integer from 0 to 4294967295")):
        with pytest.raises(ValueError, match=re.escape(message)):
            (checks.seed if bad == 2 ** 32 else lambda v: checks.whole(v, "flag"))(bad)


def test_notebooks_filter_only_on_analyses_a_run_can_produce():
    valid = set(results.ANALYSES) | set(results.GROUPS)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert not re.search(r"\.analysis\s*==", code), f"{path.name}: filter with results.of(frame, name)"
        named = re.findall(r"""results\.of\([^,]+,\s*["'](\w+)["']\)|Setting\(\s*["'](\w+)["']""", code)
        unknown = {a or b for a, b in named} - valid
        assert not unknown, f"{path.name} names analyses no run produces: {unknown}; valid: {sorted(valid)}"
    with pytest.raises(ValueError, match="unknown analysis 'transfer'"):
        results.of(results.results_frame([results.Setting("transfer_size", 625).columns()]), "transfer")


def test_every_committed_row_has_its_typed_setting():
    rows = results.read_rows()
    assert rows and all(r["analysis"] in set(results.ANALYSES) | set(results.GROUPS) for r in rows)
    for r in rows:  # the name people read is the one its typed fields spell
        spelled = typed(r["setting"])
        assert (spelled["analysis"], str(spelled["x"]), spelled["variant"]) == (r["analysis"], r["x"], r["variant"]), r
