"""The paper's findings against the committed grid: the rule that says whether a gap is more than noise, the
same-shape rows and their learning-rate choice, and lessons that claim nothing the grid does not show."""
import importlib.util
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from wellread import findings, plots, results

from rows import typed

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("reproduce", Path(__file__).parents[1] / "benchmarks" / "reproduce.py")
reproduce = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reproduce)


def _row(size, method, seed, test, val=None, setting="default", pretrained="none", budget=results.GRID_BUDGET):
    return {"size": size, "method": method, "seed": seed, **typed(setting), "test_acc": test,
            "val_acc": test if val is None else val, "val_f1": 0.5, "test_f1": 0.5, "params": 1, "latency_ms": 1.0,
            "wall_s": 1.0, "budget": budget, "pretrained": pretrained}


def _grid():
    """The main grid at GRID_BUDGET; the teacher and the same-shape students at ANALYSES_BUDGET, as committed."""
    later = results.ANALYSES_BUDGET
    rows = [_row("L6/H384", "teacher", 0, 0.81, pretrained="minilm", budget=later)]
    for seed, jitter in enumerate((0.0, 0.004, -0.004)):
        rows += [_row("L2/H128", "basic", seed, 0.75 + jitter), _row("L2/H128", "pf", seed, 0.75 - jitter, pretrained="own"),
                 _row("L2/H128", "d", seed, 0.76 + jitter), _row("L2/H128", "pd", seed, 0.76 + jitter, pretrained="own")]
    # same shape: seed 0 at two rates (the better validation one is chosen), then seeds 1-2 at the chosen rate
    for method, start, good, bad in (("basic", "none", 0.74, 0.55), ("pf", "minilm", 0.80, 0.79),
                                     ("d", "none", 0.75, 0.70), ("pd", "minilm", 0.805, 0.80)):
        best, other = (1e-4, 3e-4) if method != "basic" else (3e-4, 1e-4)
        rows.append(_row("L4/H384", method, 0, bad, setting=f"same_shape,lr={other:g}", pretrained=start, budget=later))
        for seed, jitter in enumerate((0.0, 0.003, -0.003)):
            rows.append(_row("L4/H384", method, seed, good + jitter, setting=f"same_shape,lr={best:g}", pretrained=start,
                             budget=later))
    return pd.DataFrame(rows)


def test_a_gap_counts_only_above_a_point_and_two_standard_errors():
    tight = findings.compare("x", pd.Series([0.80, 0.801, 0.799], name="a"), pd.Series([0.75, 0.751, 0.749], name="b"))
    assert tight.shown and "more than noise" in tight.text()
    small = findings.compare("x", pd.Series([0.755, 0.756, 0.754], name="a"), pd.Series([0.75, 0.751, 0.749], name="b"))
    assert not small.shown and "within noise" in small.text()  # half a point: not a finding however tight
    noisy = findings.compare("x", pd.Series([0.80, 0.70, 0.90], name="a"), pd.Series([0.75, 0.751, 0.749], name="b"))
    assert not noisy.shown  # five points ahead on average, but seeds disagree
    one_run = findings.compare("x", pd.Series([0.765], name="a"), pd.Series([0.75], name="b"))
    assert one_run.noise == pytest.approx(2 * (2 * findings.SPLIT_NOISE ** 2) ** 0.5) and not one_run.shown
    near = findings.compare("x", pd.Series([0.805], name="pd"), pd.Series([0.81], name="teacher"), within=0.01)
    assert near.shown and "within 1 point(s) of teacher" in near.text()


def test_same_shape_rows_take_each_methods_rate_from_seed_0_validation():
    table = results.same_shape(_grid()).set_index("method")
    assert table.loc["basic", "lr"] == 3e-4 and table.loc["pf", "lr"] == 1e-4
    assert (table["seeds"] == 3).all()
    assert table.loc["pf", "test_acc"] == pytest.approx(0.80) and table.loc["pf", "pretrained"] == "minilm"
    summary = reproduce.same_shape_summary(_grid().to_dict("records"), results.ANALYSES_BUDGET)
    assert "| L4/H384 | pf | minilm | — | 0.0001 | 3 | 0.800 ± 0.003 | 0.800 | -1.0 |" in summary


def test_each_teacher_gets_its_own_distilled_students_and_comparisons():
    later = results.ANALYSES_BUDGET
    grid = _grid().assign(teacher=lambda df: df["method"].map({"d": "minilm-l6-1ep", "pd": "minilm-l6-1ep",
                                                               "teacher": "minilm-l6-1ep"}))
    strong = [_row("L12/H768", "teacher", 0, 0.86, pretrained="mpnet", budget=later)]
    for method, start, acc, then in (("d", "none", 0.77, ""), ("pd", "minilm", 0.84, ""),
                                     ("pd", "minilm", 0.85, ",finetune_after")):
        strong += [_row("L4/H384", method, seed, acc + jitter, setting=f"same_shape,lr=0.0001{then}", pretrained=start,
                        budget=later) for seed, jitter in enumerate((0.0, 0.002, -0.002))]
    rows = pd.concat([grid, pd.DataFrame(strong).assign(teacher="mpnet-base-1ep")], ignore_index=True)
    table = results.same_shape(rows)
    pd_rows = table[(table["method"] == "pd") & (table["then"] == "")].set_index("teacher")
    tuned = table[table["then"] == "finetune_after"]
    assert tuned[["method", "teacher", "lr", "seeds"]].values.tolist() == [["pd", "mpnet-base-1ep", 1e-4, 3]]
    assert pd_rows.loc["mpnet-base-1ep", "test_acc"] == pytest.approx(0.84) and pd_rows.loc["minilm-l6-1ep", "seeds"] == 3
    assert table.loc[table["method"] == "pf", "teacher"].tolist() == [""]  # PF learns from labels: one row
    versus_pf = {c.size: c for c in findings.findings(rows)["pd_vs_pf"].comparisons}
    assert not versus_pf["L4/H384, teacher MiniLM fine-tuned 1 epoch"].shown  # .805 against PF's .800
    assert versus_pf["L4/H384, teacher MPNet fine-tuned 1 epoch"].shown  # .84 against .80, tight over seeds
    then_tuned = [c for c in findings.findings(rows)["pd_vs_pf"].comparisons if c.a == "pd+finetune_after"]
    assert [(c.size, round(c.a_acc, 3)) for c in then_tuned] == [("L4/H384, teacher MPNet fine-tuned 1 epoch", 0.85)]
    near = {c.size: c.b_acc for c in findings.findings(rows)["pd_near_teacher"].comparisons}
    assert near == {"L4/H384, teacher MiniLM fine-tuned 1 epoch": pytest.approx(0.81),
                    "L4/H384, teacher MPNet fine-tuned 1 epoch": pytest.approx(0.86)}
    summary = reproduce.same_shape_summary(rows.to_dict("records"), later)
    assert "| L4/H384 | pd | minilm | mpnet-base-1ep | 0.0001 | 3 | 0.840 ± 0.002 | 0.840 | -2.0 |" in summary
    assert "| L4/H384 | pd + fine-tune | minilm | mpnet-base-1ep | 0.0001 | 3 | 0.850 ± 0.002 |" in summary


def test_a_tie_on_validation_keeps_the_smaller_rate():
    rows = [_row("L2/H384", "pd", 0, 0.79, val=0.806, setting="same_shape,lr=0.0003", pretrained="minilm",
                 budget=results.ANALYSES_BUDGET),
            _row("L2/H384", "pd", 0, 0.78, val=0.806, setting="same_shape,lr=0.0001", pretrained="minilm",
                 budget=results.ANALYSES_BUDGET)]
    assert results.same_shape(rows)["lr"].tolist() == [1e-4]


def test_findings_name_the_budgets_own_transfer_set():
    found = findings.findings(_grid())
    assert "on 40k unlabeled texts" in found["pd_vs_pf"].why  # the same-shape students: classroom-v1's 40k
    assert "through 20k transfer texts" in found["distillation"].why  # the main grid: the classroom budget's 20k
    assert "on all unlabeled texts" in findings.findings(_grid(), "gpu", "gpu")["pd_vs_pf"].why  # gpu: the whole set


def test_each_finding_names_the_budget_it_read():
    found = findings.findings(_grid())
    grid, later = results.GRID_BUDGET, results.ANALYSES_BUDGET
    assert {c.budget for c in found["pd_classroom"].comparisons} == {grid}
    assert {c.budget for c in found["pd_well_read"].comparisons} == {later}
    mixed = found["distillation"].text()  # the main grid's students and the same-shape ones
    assert f"You see in {results.grid_name(grid)} and {results.grid_name(later)}" in mixed
    assert "L2/H128: d " in mixed and mixed.count(f"[{results.grid_name(grid)}]") == 1 \
        and mixed.count(f"[{results.grid_name(later)}]") == 1
    assert f"in {results.grid_name(later)} (not measured" in found["domain"].text()  # where it looked


def test_findings_follow_the_numbers():
    found = findings.findings(_grid())
    assert found["pretraining"].shown is False  # PF = basic at the classroom budget in this grid
    assert found["pretraining_well_read"].shown is True  # 0.80 vs 0.74, three seeds
    assert found["pd_well_read"].shown is True and found["pd_near_teacher"].shown is True
    assert found["pd_vs_pf"].shown is False  # half a point
    assert found["domain"].comparisons == [] and "not measured" in found["domain"].text()
    text = found["pretraining_well_read"].text()
    assert text.startswith("The paper found:") and f"You see in {results.grid_name(results.ANALYSES_BUDGET)} (shown)" in text and "Why it shows here:" in text
    assert "Why they differ:" in found["pretraining"].text()


def test_starts_put_your_runs_beside_the_grid_and_plot():
    mine = [{"method": "basic", "size": "L2/H128", "test_acc": 0.74, "pretrained": "none"},
            {"method": "pd", "size": "L2/H128", "test_acc": 0.75, "pretrained": "own"},
            {"method": "truncated", "size": "L2/H384", "test_acc": 0.75, "pretrained": "minilm"}]
    starts = results.starts_frame(mine, _grid())
    assert set(starts["start"]) == {"none", "own", "minilm"}  # truncated is not a start for a student
    assert list(starts["source"]) == ["your runs"] * 2 + ["committed grid"] * 4  # yours first
    assert set(starts.loc[starts.source == "committed grid", "lr"]) == {1e-4, 3e-4}
    fig = plots.starts_bars(starts, teacher=0.81)
    assert len(fig.data) == 2 and fig.layout.shapes  # fine-tuned and distilled bars, the teacher's line


def test_the_same_shape_plan_chooses_after_seed_0():
    import argparse
    args = argparse.Namespace(same_shapes=["L2/H384"], same_shape_lrs=[1e-4, 3e-4], seeds=[0, 1], budget=results.GRID_BUDGET)
    rows = []
    plan = reproduce.same_shape_runs(args, rows, "minilm-l6-1ep")
    first = [next(plan) for _ in range(4)]  # basic and PF at both rates, seed 0
    assert [(m, s, kw) for _, _, m, s, _, kw in first][:2] == [("basic", 0, {"pretrained": "none", "finetune__lr": 1e-4}),
                                                              ("basic", 0, {"pretrained": "none", "finetune__lr": 3e-4})]
    for label, _, method, seed, setting, _ in first:
        rows.append({**_row(label, method, seed, 0.7), **setting.columns(),
                     "val_acc": 0.8 if setting.name.endswith("0.0003") else 0.7})
    later = next(plan)
    assert (*later[2:4], later[4].name) == ("basic", 1, "same_shape,lr=0.0003") and later[5]["finetune__lr"] == 3e-4


def test_the_pd_variants_run_at_the_rates_pd_and_pf_chose_with_this_teacher():
    import argparse
    later, teacher = results.ANALYSES_BUDGET, "mpnet-base-1ep"
    rows = [{**_row("L4/H384", m, 0, 0.8, val=val, setting=f"same_shape,lr={lr:g}", budget=later), "teacher": t}
            for m, t in (("basic", ""), ("pf", ""), ("d", teacher), ("pd", teacher))
            for lr, val in ((1e-4, 0.80 if m == "pd" else 0.70), (3e-4, 0.70 if m == "pd" else 0.80))]
    rows.append({**_row("L4/H384", "pd", 0, 0.9, val=0.9, setting="same_shape,lr=0.0003", budget=later),
                 "teacher": "minilm-l6-1ep"})  # another teacher's PD preferred 3e-4: not this study's choice
    args = argparse.Namespace(same_shapes=["L4/H384"], same_shape_lrs=[1e-4, 3e-4], seeds=[0], budget=later,
                              same_shape_finetune_after=True, same_shape_distill_epochs=2.0, same_shape_pkd=True)
    planned = list(reproduce.same_shape_runs(args, rows, teacher))
    variants = [r for r in planned if "," in r[4].variant]
    assert [(r[2], r[4].name, r[5]) for r in variants] == [
        ("pd", "same_shape,lr=0.0001,finetune_after",
         {"pretrained": "minilm", "distill__lr": 1e-4, "finetune__lr": 3e-4, "finetune_after": True}),
        ("pd", "same_shape,lr=0.0001,distill_epochs=2",
         {"pretrained": "minilm", "distill__lr": 1e-4, "distill__epochs": 2.0})]
    patient = [(r[2], r[3], r[4].name) for r in planned if r[2] == "pkd"]
    assert patient == [("pkd", 0, "same_shape,lr=0.0001")]  # PKD beside them, from the teacher's own layers


# ------------------------------------------------------------------------------------------------ the lessons

LESSONS = {"01_pretraining": ("pretraining", "pretraining_well_read"), "03_distillation": ("distillation",),
           "04_pretrained_distillation": ("reading", "pd_classroom", "pretraining_well_read", "pd_well_read", "pd_vs_pf",
                                          "pd_near_teacher"),
           "05_what_matters": ("transfer_size", "domain", "pretraining")}
CLAIM = re.compile(r"\b(beats?|outperforms?|wins|better than|helps?)\b", re.IGNORECASE)
ALWAYS_A_CLAIM = re.compile(r"shows? the (pattern|effect)|you will see|as expected", re.IGNORECASE)
METHOD = re.compile(r"\b(PF|PD|D|basic|truncated)\b|pre-train|distil")


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_lessons_close_with_the_grids_findings(name):
    """The closing part of each lesson prints findings computed from the committed grid, not written-in results."""
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "findings.findings(grid)" in code and ".text()" in code
    for key in LESSONS[name]:
        assert f'"{key}"' in code, f"{name} does not print the finding {key!r}"
    assert set(LESSONS[name]) <= set(findings.findings(_grid()))


@pytest.mark.parametrize("name", sorted(LESSONS) + ["00_students", "02_teacher"])
def test_lessons_attribute_every_claimed_effect_to_the_paper(name):
    """A sentence in a lesson's text that says one method beats another names the paper or asks a question: what
    the learner's own runs show is printed from the numbers (see findings.findings)."""
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", cell.source.replace("\n", " ")):
            if ALWAYS_A_CLAIM.search(sentence) or CLAIM.search(sentence) and METHOD.search(sentence):
                assert "paper" in sentence.lower() or sentence.rstrip().endswith("?"), sentence


def test_the_committed_grid_is_read_honestly():
    grid = results.results_grid()
    if grid is None:
        pytest.skip("no committed grid")
    found = findings.findings(grid)
    for finding in found.values():
        seen = finding.text().split("\n")[1]
        assert re.match(r"You see in the (longer )?reference grid( and the (longer )?reference grid)? \(", seen), seen
        assert {c.budget for c in finding.comparisons} <= {results.GRID_BUDGET, results.ANALYSES_BUDGET}
        if finding.shown is False:
            assert "(not shown)" in seen
        for c in finding.comparisons:
            assert ("more than noise" in c.text() or "within 1 point" in c.text()) == c.shown
