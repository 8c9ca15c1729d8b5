"""Unit tests of the notebook helpers: lessons, plots, widgets, exercises, tour (no training, seconds)."""
import ast
import json
import math
import os
import re
import tempfile
import time

import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
import torch.nn.functional as F

from wellread import cache, exercises, lessons, plots, results, speed, tour
from wellread.distill import distill_loss, soft_cross_entropy
from wellread.pretrain import mask_tokens
from wellread.recipes import METHODS

from rows import typed
from wellread.sizes import all_sizes, parse_size


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


# --------------------------------------------------------------------------------------------- lessons

def test_install_cell_is_python_and_names_the_one_repository():
    cell = lessons.install_cell()
    ast.parse(cell)
    assert lessons.REPO_URL in cell and cell.count("https://") == 1
    assert "find_spec(\"wellread\")" in cell


def test_install_cell_does_nothing_where_the_kit_is_installed(monkeypatch):
    calls = []
    monkeypatch.setattr("subprocess.check_call", lambda *a, **k: calls.append(a))
    exec(compile(lessons.install_cell(), "install", "exec"), {})
    assert calls == []


def test_chosen_student_parameter_then_file_then_tiny(runs):
    assert lessons.chosen_student(None).short == "L2/H128"           # nothing saved yet
    lessons.save_student("mini")
    assert json.loads(lessons.student_file().read_text())["student"] == "L4/H256"
    assert lessons.chosen_student(None).short == "L4/H256"           # the picker's choice carries
    assert lessons.chosen_student("L6/H512").short == "L6/H512"      # an explicit parameter wins
    lessons.student_file().write_text("not json")
    assert lessons.chosen_student(None).short == "L2/H128"


def test_save_summary_is_atomic_json_with_provenance(tmp_path):
    path = lessons.save_summary("01_pretraining", {"heldout_loss": 7.5, "nested": {"a": 1}}, tmp_path)
    assert path == tmp_path / "01_pretraining.json"
    summary = json.loads(path.read_text())
    assert summary["notebook"] == "01_pretraining" and summary["numbers"]["heldout_loss"] == 7.5
    assert {"commit", "machine", "date"} <= set(summary["provenance"])
    assert not list(tmp_path.glob("*.tmp*"))


def test_save_summary_defaults_to_runs_notebooks(runs):
    assert lessons.save_summary("x", {"a": 1}).parent == runs / "notebooks"


def test_setup_resolves_parameters_and_sets_the_renderer(runs, capsys):
    import plotly.io as pio
    lesson = lessons.setup("03_distillation", "smoke", None, "2", None)
    assert lesson.budget.name == "smoke" and lesson.size.short == "L2/H128" and lesson.seed == 2
    assert lesson.out_dir == runs / "notebooks"
    assert pio.renderers.default == "plotly_mimetype+notebook"
    assert "budget 'smoke'" in capsys.readouterr().out


@pytest.mark.parametrize("idle, said", [(("PASSIVE", "other processes kept 1.4 CPUs busy as the kit loaded"), True),
                                         (("PASSIVE", "OMP_WAIT_POLICY is set"), False),
                                         (("default", "the cores are this machine's own"), False)])
def test_a_lesson_says_when_other_work_made_its_threads_sleep_at_once(runs, capsys, monkeypatch, idle, said):
    import wellread
    monkeypatch.setattr(wellread, "IDLE_THREADS", idle)
    lessons.setup("03_distillation", "smoke", None, 0, None)
    out = capsys.readouterr().out
    assert ("kept 1.4 CPUs busy" in out and "restart this kernel" in out) == said
    assert lessons.machine()["idle_threads"] == idle[0]


def test_a_lessons_own_random_draws_repeat_with_its_seed(runs):
    import torch
    draws = []
    for seed in (2, 2, 3):
        lessons.setup("01_pretraining", "smoke", None, seed, None, quiet=True)
        torch.rand(1)  # something else drew first: the next draw still depends on the seed alone
        draws.append(torch.rand(3))
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_renderer_choice(monkeypatch):
    import sys
    monkeypatch.delenv("WELLREAD_PLOTLY_RENDERER", raising=False)
    assert lessons.plotly_renderer() == "plotly_mimetype+notebook"
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert lessons.plotly_renderer() == "colab"
    monkeypatch.setenv("WELLREAD_PLOTLY_RENDERER", "notebook_connected")
    assert lessons.plotly_renderer() == "notebook_connected"


def test_hub_online_is_false_at_once_when_offline_is_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert lessons.hub_online() is False


def test_hub_online_sets_offline_variables_when_unreachable(monkeypatch):
    import socket
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    def refuse(*a, **k):
        raise OSError("no network")
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert lessons.hub_online() is False
    import os
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"


def test_live_figure_shows_and_updates_without_a_kernel():
    import plotly.io as pio
    saved, pio.renderers.default = pio.renderers.default, "plotly_mimetype+notebook"
    live = lessons.LiveFigure(go.Figure())
    live.update(go.Figure(go.Scatter(x=[1], y=[2])))
    pio.renderers.default = saved
    bundle = lessons.LiveFigure._bundle(go.Figure(go.Scatter(x=[1, 2], y=[2, 3])))
    # each redraw carries the figure, not another 5 MB copy of plotly.js
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    assert len(bundle["text/html"]) < 50_000 and bundle["application/vnd.plotly.v1+json"]["data"][0]["x"] == [1, 2]


def test_the_live_figure_brings_plotly_js_into_colabs_separate_output_frames(monkeypatch):
    import sys
    import types
    assert "cdn.plot.ly" not in lessons.LiveFigure._bundle(go.Figure())["text/html"]
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    html = lessons.LiveFigure._bundle(go.Figure())["text/html"]
    assert "cdn.plot.ly" in html and len(html) < 50_000  # a script tag, not 5 MB of plotly.js


def test_the_published_comparison_with_concurrent_methods_is_cited_and_complete():
    df = results.compression_comparison()
    sst2 = df[df.task == "SST-2"].set_index("method")["value"].to_dict()
    assert sst2 == {"BERT-Base (teacher)": 93.4, "PD": 91.8, "BERT-PKD": 92.0, "DistilBERT": 92.5}
    assert set(df.groupby("method")["task"].nunique()) == {5}  # every method on the same five tasks
    assert df["citation"].str.contains("Table 1").all() and df["url"].str.startswith("https://arxiv.org/").all()


def test_paper_results_are_the_published_glue_scores():
    df = results.paper_results()
    assert {"model", "layers", "hidden", "task", "metric", "value", "citation", "url"} <= set(df.columns)
    score = df[(df.task == "GLUE") & (df.metric == "score")].set_index("model")["value"].to_dict()
    assert score == {"BERT-Tiny": 64.2, "BERT-Mini": 65.8, "BERT-Small": 71.2, "BERT-Medium": 73.5}
    sst2 = df[(df.task == "SST-2") & (df.kind == "release")].set_index("model")["value"].to_dict()
    assert sst2 == {"BERT-Tiny": 83.2, "BERT-Mini": 85.9, "BERT-Small": 89.7, "BERT-Medium": 89.6}
    assert df["citation"].str.len().min() > 20 and df["url"].str.startswith("https://").all()
    for _, row in df.iterrows():  # the shape columns agree with the names
        if row.model != "BERT-Base":
            assert parse_size(row.model.split("-")[1].lower()).short == f"L{row.layers}/H{row.hidden}"


def test_results_grid_is_none_or_a_table():
    grid = results.results_grid()
    assert grid is None or {"size", "method", "test_acc"} <= set(grid.columns)


# --------------------------------------------------------------------------------------------- plots

def _rows(methods=("basic", "pf", "d", "pd", "truncated"), seeds=(0,)):
    return pd.DataFrame([{"method": m, "size": "L2/H128", "seed": s, "test_acc": 0.6 + 0.05 * i + 0.01 * s,
                          "val_acc": 0.6, "latency_ms": 2.0 + i, "params": 4_400_000}
                         for i, m in enumerate(methods) for s in seeds])


def test_size_figures():
    sizes = all_sizes()
    fig = plots.params_grid(sizes, highlight="mini")
    assert isinstance(fig, go.Figure) and len(fig.data[0].z) == 6 and len(fig.data[0].z[0]) == 4
    assert "Tiny" in fig.data[0].text[0][0]
    shares = plots.param_shares(sizes)
    assert len(shares.data) == 2 and len(shares.data[0].x) == 24
    rows = [{"size": "L2/H128", "name": "Tiny", "layers": 2, "hidden": 128, "params": 4.4e6, "ms_batch1": 2.0,
             "speedup_batch1": 50.0, "speedup_against": "L12/H768"},
            {"size": "L12/H768", "name": "Base", "layers": 12, "hidden": 768, "params": 110e6, "ms_batch1": 100.0,
             "speedup_batch1": 1.0, "speedup_against": "L12/H768"}]
    grid = plots.latency_grid(rows)
    z = grid.data[0].z
    assert z[0][0] == pytest.approx(math.log10(50)) and z[1][1] is None  # unmeasured cells stay blank
    assert len(plots.speed_vs_params(rows).data) == 2
    assert len(plots.glue_scores(results.paper_results()).data) == 5


def test_the_committed_speed_grid_covers_all_24_sizes_and_names_where_it_was_measured():
    committed = speed.committed_grid()
    assert {r["size"] for r in committed["rows"]} == {s.short for s in all_sizes()}
    base = next(r for r in committed["rows"] if r["size"] == "L12/H768")
    assert base["speedup_batch1"] == pytest.approx(1.0) and all(r["ms_batch1"] > 0 for r in committed["rows"])
    where = speed.describe(committed)
    assert committed["precision"] in where and committed["machine"] in where and "committed" in where
    assert where in plots.latency_grid(committed["rows"], source=where).layout.title.text
    assert "classroom" in lessons.SPEED_PLANS and len(lessons.SPEED_PLANS["classroom"]["sizes"]) < 24


def test_vocab_share_shrinks_with_a_smaller_vocabulary():
    fig = plots.vocab_share(vocab_sizes=(30522, 8192))
    full, small = fig.data[0].y, fig.data[1].y
    assert all(0 < s < f < 1 for f, s in zip(full, small))
    assert full[0] > 0.8  # Tiny is mostly vocabulary


def test_training_figures():
    fig = plots.pretrain_curve([{"step": 10, "loss": 9.0}], [{"step": 10, "heldout_loss": 8.5}], unigram=7.3,
                               initial=10.3)
    assert [len(t.x) for t in fig.data] == [1, 2]
    assert isinstance(plots.pretrain_curve([], []), go.Figure)
    assert len(plots.masked_tokens(["a", "b"], ["[MASK]", "b"], ["a", None]).data) == 1
    assert len(plots.fill_mask_bars({"before": [("x", 0.1)], "after": [("good", 0.5)]}).data) == 2
    assert len(plots.label_balance({"train": [3, 5], "test": [1, 1]}).data) == 2
    assert len(plots.confidence_hist([0.6, 0.9, 0.99], [True, False, False]).data) == 2
    probs = {1: [[0.3, 0.7], [0.5, 0.5]], 2: [[0.4, 0.6], [0.5, 0.5]]}
    assert len(plots.temperature_softmax(probs, ["one", "two"]).data) == 4
    assert len(plots.training_curves({"a": [{"step": 1, "loss": 1.0}], "b": []}).data) == 1


def test_method_bars_error_bars_only_with_several_seeds():
    one = plots.method_bars(_rows())
    assert list(one.data[0].x)[0].startswith("Basic") and one.data[0].error_y.visible is False
    many = plots.method_bars(_rows(seeds=(0, 1, 2)), reference={"teacher": 0.9})
    assert many.data[0].error_y.visible is True and len(many.data[0].x) == 5
    assert "mean ± std" in many.layout.title.text


def test_accuracy_vs_latency_and_experiment():
    fig = plots.accuracy_vs_latency(_rows(), teacher={"test_acc": 0.9, "latency_ms": 30.0})
    assert len(fig.data) == 6
    df = pd.DataFrame({"method": ["d", "d", "pd", "pd"], "x": [100, 1000, 100, 1000], "test_acc": [0.6, 0.7, 0.65, 0.75]})
    assert len(plots.experiment(df, "x", log_x=True).data) == 2


def test_results_figures_read_the_reproduction_csv_format():
    rows = [  # as csv.DictReader gives them: strings
        {"size": "L2/H128", "method": "pf", "seed": "0", **typed("default"), "test_acc": "0.70"},
        {"size": "L4/H128", "method": "pd", "seed": "0", **typed("default"), "test_acc": "0.72"},
        {"size": "L2/H128", "method": "truncated", "seed": "0", **typed("layers=2"), "test_acc": "0.60"},
        {"size": "L2/H128", "method": "truncated", "seed": "0", **typed("layers=4"), "test_acc": "0.90"},
        {"size": "L2/H128", "method": "pd", "seed": "0", **typed("transfer_size=1000"), "test_acc": "0.70"},
        {"size": "L2/H128", "method": "pd", "seed": "1", **typed("transfer_size=5000"), "test_acc": "0.74"},
        {"size": "L2/H128", "method": "d", "seed": "0", **typed("domain=glosses"), "test_acc": "0.60"},
        {"size": "L2/H128", "method": "basic", "seed": "0", **typed("labels=250"), "test_acc": "0.55"},
        {"size": "L2/H128", "method": "pf", "seed": "0", **typed("pretrain_steps=375"), "test_acc": "0.65"},
        {"size": "L2/H128", "method": "basic", "seed": "0", **typed("default"), "test_acc": "0.66"},
        {"size": "L2/H128", "method": "pf", "seed": "0", **typed("labels=1000,epochs=10"), "test_acc": "0.62"},
        {"size": "L2/H128", "method": "pf", "seed": "0", **typed("corpus=movie"), "test_acc": "0.75"},
    ]
    figures = results.results_figures(rows)
    assert set(figures) == {"methods", "transfer_size", "domain", "labels", "pretrain_steps", "corpus"}
    # the pre-training curve starts at basic training (0 steps) and passes through the budget's default PF run
    (curve,) = figures["pretrain_steps"].data
    assert list(curve.x) == [0, 375, 1500] and list(curve.y) == pytest.approx([0.66, 0.65, 0.70])
    assert [t.name for t in figures["labels"].data][-1].endswith("epochs 10")
    assert list(figures["corpus"].data[0].x) == ["general", "movie"]
    truncated = [t for t in figures["methods"].data if t.name.startswith("Truncated")][0]
    assert list(truncated.y)[0] == pytest.approx(0.60)  # the 2-layer truncation beside the 2-layer student
    assert results.results_figures([]) == {}
    frame = results.results_frame(rows)
    assert frame.loc[4, "x"] == 1000 and frame.loc[6, "x"] == "glosses" and frame.loc[0, "analysis"] == "default"
    assert (frame.loc[10, "analysis"], frame.loc[10, "x"], frame.loc[10, "variant"]) == ("labels", 1000, "epochs=10")


# --------------------------------------------------------------------------------------------- exercises

def test_exercises_accept_the_reference(capsys):
    assert exercises.check_masking(mask_tokens, who="reference")
    assert exercises.check_accuracy(lambda logits, y: (logits.argmax(-1) == y).float().mean())
    assert exercises.check_softmax_temperature(lambda z, t: torch.softmax(z / t, -1))
    assert exercises.check_distill_loss(lambda s, t, T: soft_cross_entropy(s, t, T))
    assert exercises.check_distill_loss_alpha(distill_loss, who="reference")
    out = capsys.readouterr().out
    assert out.count("✓") == 5 and "✗" not in out


def test_the_kits_own_function_is_not_the_learners(capsys):
    assert exercises.check_masking(mask_tokens) is False
    assert exercises.check_distill_loss(soft_cross_entropy) is False
    out = capsys.readouterr().out
    assert out.count("✗") == 2 and "that is the kit's own wellread.distill.soft_cross_entropy, not yours" in out


@pytest.mark.parametrize("check, wrong, hint", [
    (exercises.check_masking, lambda ids, tok, p, g: (ids, ids), "special tokens"),
    (exercises.check_masking, lambda ids, tok, p, g: mask_tokens(ids, tok, 0.3, g), "expected about 15%"),
    (exercises.check_accuracy, lambda z, y: 100 * (z.argmax(-1) == y).float().mean(), "not a percentage"),
    (exercises.check_softmax_temperature, lambda z, t: torch.softmax(z, -1), "divide the logits by T"),
    (exercises.check_softmax_temperature, lambda z, t: torch.softmax(z * t, -1), "do not multiply"),
    (exercises.check_distill_loss, lambda s, t, T: soft_cross_entropy(s, t, T) / T ** 2, "T²"),
    (exercises.check_distill_loss, lambda s, t, T: -soft_cross_entropy(s, t, T), "sign"),
    (exercises.check_distill_loss_alpha, lambda s, t, y, T, a: soft_cross_entropy(s, t, T), "alpha"),
    (exercises.check_distill_loss, lambda s, t, T: F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1),
                                                            reduction="batchmean") * T ** 2, "KL divergence"),
    (exercises.check_distill_loss_alpha, lambda s, t, y, T, a: (1 - a) * soft_cross_entropy(s, t, T)
     + a * F.cross_entropy(s, y), "-1 marker"),
])
def test_exercises_hint_at_common_mistakes(check, wrong, hint, capsys):
    assert check(wrong) is False
    out = capsys.readouterr().out
    assert "✗" in out and hint in out


@pytest.mark.parametrize("check", [exercises.check_masking, exercises.check_accuracy,
                                   exercises.check_softmax_temperature, exercises.check_distill_loss,
                                   exercises.check_distill_loss_alpha])
def test_exercises_never_raise(check, capsys):
    def unfinished(*args):
        raise NotImplementedError
    assert check(unfinished) is False
    assert "not written yet" in capsys.readouterr().out
    assert check(lambda *a: 1 / 0) is False
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert check(lambda *a: None) is False
    assert check(lambda *a: "nonsense") is False


# --------------------------------------------------------------------------------------------- widgets

def test_student_picker_is_a_6x4_grid_and_saves_the_choice(runs):
    from wellread import widgets
    picker = widgets.student_picker("mini")
    assert len(picker.buttons) == 24 and picker.value == "L4/H256" and picker.buttons["L4/H256"].value
    assert not lessons.student_file().exists()          # building the grid saves nothing
    picker.buttons["L6/H512"].value = True              # a click
    assert picker.value == "L6/H512" and not picker.buttons["L4/H256"].value
    assert lessons.chosen_student(None).short == "L6/H512"
    picker.buttons["L6/H512"].value = False             # clicking the chosen one again keeps it
    assert picker.value == "L6/H512" and picker.buttons["L6/H512"].value
    assert "Tiny" in picker.buttons["L2/H128"].description and "M" in picker.buttons["L2/H128"].description


def test_other_controls_and_the_run_button():
    from wellread import widgets
    assert [v for _, v in widgets.method_picker().options] == list(METHODS)
    assert widgets.budget_picker("smoke").value == "smoke"
    assert widgets.temperature_slider(2.0).value == 2.0 and widgets.alpha_slider(0.5).value == 0.5
    seen = []
    box = widgets.run_button(lambda m, t: seen.append((m, t)), widgets.method_picker("pf"),
                             widgets.temperature_slider(1.0))
    assert seen == []                                    # nothing runs until clicked
    button = box.children[0].children[-1]
    button.click()
    assert seen == [("pf", 1.0)] and not button.disabled


# --------------------------------------------------------------------------------------------- tour

def test_tour_resolves_names():
    assert tour._resolve(None) == lessons.TOUR and "06_paper_scale" not in lessons.TOUR
    assert tour._resolve("all") == lessons.NOTEBOOKS
    assert tour._resolve(["3", 0, "05_what_matters.ipynb"]) == ["03_distillation", "00_students", "05_what_matters"]
    with pytest.raises(ValueError, match="unknown notebook"):
        tour._resolve(["99"])


def test_stage_table_says_where_the_time_went(tmp_path, monkeypatch):
    monkeypatch.setenv("WELLREAD_RUNS", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    cache.log_build("pretrain", "k1", 300.0)
    cache.log_build("finetune", "k2", 40.0)
    cache.log_build("finetune", "k3", 20.0)
    with (tmp_path / "runs" / "builds.jsonl").open("a") as f:
        f.write('{"stage": "distill", "sec')  # a line cut off by a crash is skipped
    builds = cache.builds_between(0, time.time() + 1)
    assert [b["stage"] for b in builds] == ["pretrain", "finetune", "finetune"]
    assert cache.builds_between(time.time() + 10, time.time() + 20) == []
    (tmp_path / "timings.json").write_text(json.dumps({"01_pretraining": {"seconds": 400.0, "builds": builds},
                                                       "00_students": {"seconds": 58.0, "builds": []}}))
    table = tour.stage_table(tmp_path)
    mine = table[table.notebook == "01_pretraining"].set_index("stage")
    assert mine.loc["pretrain", "seconds"] == 300 and mine.loc["finetune", "built"] == 2
    assert mine.loc["finetune", "seconds"] == 60 and mine.loc["= notebook total", "seconds"] == 400
    assert mine.loc["other (kernel, evaluation, latency, plots)", "seconds"] == 40
    assert table[table.notebook == "00_students"]["seconds"].tolist() == [58, 58]
    shown = tour.stage_text(table)  # as `wellread tour` prints it
    assert re.search(r"finetune +2 +60\n", shown) and re.search(r"latency, plots\) +40\n", shown)  # a blank count
    assert ".0" not in shown and "NA" not in shown and "nan" not in shown, shown


@pytest.mark.skipif(os.name == "nt", reason="Windows kernels use TCP")
def test_each_tour_kernel_has_its_own_unix_socket_or_tcp_where_the_path_would_be_too_long(monkeypatch, tmp_path):
    from jupyter_client.manager import KernelManager
    monkeypatch.setattr(tempfile, "tempdir", "/tmp")
    first, second = tour._kernel_manager_class()(), tour._kernel_manager_class()()
    assert first.transport == second.transport == "ipc" and first.ip.startswith("/tmp/wellread-kernel-")
    assert first.ip != second.ip  # two tours at once never share a socket
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / ("x" * 100)))
    assert tour._kernel_manager_class() is KernelManager
