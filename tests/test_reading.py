"""The reading curve: its plan (points, seeds, epochs chosen on validation), its table and its figure."""
import importlib.util
from pathlib import Path

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import pytest

from wellread import plots, results

from rows import typed

_spec = importlib.util.spec_from_file_location("reading_curve", Path(__file__).parents[1] / "benchmarks" / "reading_curve.py")
curve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(curve)


def _row(steps, seed, test, labels="", val=None, loss=None):
    setting = f"reading={steps}" + (f",{labels}" if labels else "")
    return {"size": "L2/H128", "method": "pf" if steps else "basic", "seed": str(seed), **typed(setting),
            "budget": curve.BUDGET, "val_acc": str(val if val is not None else test), "test_acc": str(test),
            "pretrain_tokens": str(steps * 4096), "heldout_loss": "" if loss is None else str(loss),
            "unigram_loss": "7.35" if steps else "", "pretrained": "own" if steps else "none"}


def test_the_plan_reads_seed_zero_before_choosing_epochs(monkeypatch):
    monkeypatch.setattr(curve, "is_built", lambda config: config.steps == 500)  # only the first point exists
    rows = []
    plan = curve.planned_runs(rows)
    first = [next(plan) for _ in range(5)]  # random start: 3 seeds of all labels, then 1,000 labels at 2 epoch counts
    assert [(m, s, setting.name) for m, s, setting, _ in first[:3]] == [("basic", i, "reading=0") for i in range(3)]
    assert [kw["finetune__epochs"] for *_, kw in first[3:]] == [10.0, 30.0]
    assert all(kw["task__train_examples"] == 1000 for *_, kw in first[3:])
    rows += [_row(0, 0, 0.6, "labels=1000,epochs=10", val=0.65), _row(0, 0, 0.6, "labels=1000,epochs=30", val=0.65)]
    # a tie keeps the fewer epochs
    assert [setting.name for _, _, setting, _ in (next(plan), next(plan))] == ["reading=0,labels=1000,epochs=10"] * 2
    method, _, setting, kw = next(plan)
    assert (method, setting.name) == ("pf", "reading=500") and kw["pretrain__steps"] == 500
    assert kw["pretrain__schedule_steps"] == curve.POINTS[-1]  # every point is a snapshot of the longest run


def test_the_table_and_the_figure_hold_every_point():
    rows = [_row(0, s, 0.74 + s / 1000) for s in range(3)] + [_row(500, s, 0.75, loss=7.0) for s in range(3)]
    rows += [_row(25000, s, 0.78 + s / 100, loss=5.1) for s in range(3)]
    rows += [_row(25000, s, 0.70, "labels=1000,epochs=25", loss=5.1) for s in range(3)]
    table = results.reading_table(rows)
    best = table[(table["labels"] == "all") & (table["steps"] == 25000)].iloc[0]
    assert best["tokens"] == 25000 * 4096 and best["seeds"] == 3 and best["test_mean"] == pytest.approx(0.79)
    assert best["heldout_loss"] == 5.1 and best["unigram_loss"] == 7.35
    assert list(table["labels"]) == ["all"] * 3 + ["1000"]
    fig = plots.reading_curve(results.reading_frame(rows), learner={"tokens": 2_048_000, "test_acc": 0.751,
                                                                     "heldout_loss": 7.07})
    names = [t.name for t in fig.data]
    assert "your run" in names and len([t for t in fig.data if t.name == "your run"]) == 2
    assert fig.layout.xaxis.type == "log" and "1,000 labels" in str(fig.layout.annotations)
    assert "random start 0.741" in str(fig.layout.annotations)
