"""The reproduction benchmark: its plan is well-formed, and a tiny grid writes rows, resumes and plots."""
import argparse
import csv
import importlib.util
from pathlib import Path

import pytest

from wellread import results
from wellread.budget import ALIASES, get_budget, override_names
from rows import typed

_spec = importlib.util.spec_from_file_location("reproduce", Path(__file__).parents[1] / "benchmarks" / "reproduce.py")
reproduce = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reproduce)



def _args(**kw):
    base = dict(sizes=["tiny", "mini"], methods=["basic", "pf", "d", "pd", "truncated"], seeds=[0, 1],
                truncated_layers=[2, 4], analyses=list(reproduce.ANALYSES),
                analysis_seeds=[0], budget="classroom")
    return argparse.Namespace(**{**base, **kw})


def test_every_planned_run_is_unique_and_names_its_analysis():
    plan = list(reproduce.planned_runs(_args()))
    keys = [(label, method, seed, setting.name) for label, _, method, seed, setting, _ in plan]
    assert len(keys) == len(set(keys))
    budget_fields = set(override_names())
    for _, _, _, _, _, kwargs in plan:
        assert set(kwargs) <= budget_fields | set(ALIASES) | {"pretrained"}
    frame = results.results_frame([setting.columns() for *_, setting, _ in plan])
    assert set(frame["analysis"]) == {"default", "layers", "labels", "transfer_size", "domain", "pretrain_steps", "corpus",
                                      "finetune_lr", "block", "vocab"}
    assert set(frame["analysis"]) - {"default", "layers"} <= set(results.ANALYSES)  # each has a figure
    # the pre-training curve brackets the budget's steps, with all labels and with 1,000
    curve = frame[frame.analysis == "pretrain_steps"]
    steps = get_budget(_args().budget).pretrain.steps
    assert sorted(set(curve["x"])) == [steps // 4, steps // 2, steps * 2] and set(curve["variant"]) == {"", "labels=1000,epochs=10"}
    # truncated teachers are planned once (beside the first size), as L{layers}/H384
    assert {k[0] for k in keys if k[1] == "truncated"} == {"L2/H384", "L4/H384"}


def test_a_smoke_grid_writes_rows_with_the_teacher_then_resumes(tmp_path, capsys):
    out = tmp_path / "results.csv"
    argv = ["--budget", "smoke", "--sizes", "tiny", "--methods", "basic", "--seeds", "0", "--analyses", "none",
            "--out", str(out)]
    assert reproduce.main(argv) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["method"], r["size"]) for r in rows] == [("teacher", "L6/H384"), ("basic", "L2/H128")]
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 and r["budget"] == "smoke" and r["date"] for r in rows)
    assert (tmp_path / "smoke-methods.html").exists() and not (tmp_path / "methods.html").exists()  # not the README's
    capsys.readouterr()
    assert reproduce.main(argv) == 0  # everything is in the CSV already: nothing runs, nothing is added
    assert "basic" not in capsys.readouterr().out.split("grid done")[0]
    assert len(list(csv.DictReader(out.open()))) == 2


def test_unknown_sizes_fail_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="tiny"):
        reproduce.main(["--budget", "smoke", "--sizes", "huge", "--out", str(tmp_path / "r.csv")])
    assert not (tmp_path / "r.csv").exists()


def test_each_lever_is_drawn_beside_the_default_it_varies():
    rows = [dict(size="L2/H128", method=m, seed=0, **typed(s), test_acc=a, budget="classroom")
            for m, s, a in [("basic", "default", .74), ("pf", "default", .75), ("basic", "finetune_lr=0.001", .70),
                            ("pf", "finetune_lr=0.001", .72), ("pf", "vocab=8192", .76), ("basic", "vocab=8192", .73)]]
    df = results.results_frame(rows)
    lr = results._reference_points(df, df[df.analysis == "finetune_lr"], "finetune_lr")
    assert sorted(zip(lr["method"], lr["x"])) == [("basic", 5e-4), ("pf", 5e-4)]
    vocab = results._reference_points(df, df[df.analysis == "vocab"], "vocab")
    assert set(vocab["x"]) == {30522}
    figures = results.results_figures(rows)
    assert {"finetune_lr", "vocab", "methods"} <= set(figures)


def test_pf_lead_pairs_basic_and_pf_within_a_setting():
    rows = [dict(size="L2/H128", method=m, seed=s, **typed(st), test_acc=a, val_acc=a, budget="classroom")
            for m, s, st, a in [("basic", 0, "default", .70), ("basic", 1, "default", .72), ("pf", 0, "default", .75),
                                ("pf", 0, "block=64", .80)]]  # block=64 has no basic run: no row
    table = reproduce.pf_lead(rows, "classroom").splitlines()
    assert len(table) == 3 and table[2].startswith("| L2/H128 | default | 2/1 | 0.710") and table[2].endswith("+4.0 |")
