"""Reproduce the paper's findings in miniature: methods x sizes x seeds, plus the analyses.

Resumable: every stage is cached under runs/, and rows already in the CSV are skipped.
    python benchmarks/reproduce.py                       # the default grid (see --help)
    python benchmarks/reproduce.py --sizes tiny --seeds 0 --analyses none
Writes data/results/results.csv (one row per run, with provenance), data/results/*.html figures and, where
matplotlib is installed, data/results/methods.svg (the main figure, for the README).
"""
from __future__ import annotations

import argparse
import sys
import time
from itertools import chain
from pathlib import Path

import wellread  # noqa: F401  (before torch: OMP_WAIT_POLICY)
from wellread import cache
from wellread.budget import get_budget
from wellread.cli import parse_overrides
from wellread.device import cpu_flags, resolve
from wellread.recipes import METHODS, run, teacher, teacher_name
from wellread.findings import findings
from wellread.methods import color as method_color, distilled, label as method_label
from wellread.pkd import PKDConfig
from wellread.results import (ANALYSES_BUDGET, COLUMNS, GRID_BUDGET, Setting, committed_figures, read_rows,
                              results_figures, results_frame, same_shape, write_rows)
from wellread.results import pf_lead as lead_frame
from wellread.sizes import parse_size
from wellread.speed import latency_ms

OUT = Path(__file__).resolve().parents[1] / "data" / "results"
ANALYSES = ("labels", "transfer_size", "domain", "pretrain_steps", "corpus", "finetune_lr", "block", "vocab")
# Same shape, random start against a start that read at scale: MiniLM's bottom layers (L*/H384, off the grid; the
# random students get the grid's H/64 = 6 heads, MiniLM has 12: the same parameters). Each method's learning rate
# (fine-tuning for basic and PF, distillation for D and PD) is chosen on validation with seed 0.
SAME_SHAPE = {"basic": ("none", "finetune__lr"), "pf": ("minilm", "finetune__lr"),
              "d": ("none", "distill__lr"), "pd": ("minilm", "distill__lr")}


def planned_runs(args):
    """(row's size, student size, method, seed, setting, run kwargs): the grid, then each analysis."""
    sizes = [parse_size(s).short for s in args.sizes]
    for size in sizes:
        for seed in args.seeds:  # seeds outside methods: a grid cut short still compares every method
            for method in args.methods:
                if method != "truncated":
                    yield size, size, method, seed, Setting(), {}
                elif size == sizes[0]:  # the truncated teachers do not depend on the student size
                    for layers in args.truncated_layers:
                        yield f"L{layers}/H384", size, method, seed, Setting("layers", layers), {"layers": layers}
    first, seeds = sizes[0], args.analysis_seeds
    budget = get_budget(args.budget)
    steps, full_transfer = budget.pretrain.steps, budget.logits.transfer_examples
    # few labels, fine-tuned for 10 epochs: with 3 (94 steps) basic training stays at the majority class (see "labels")
    few_setting, few = "labels=1000,epochs=10", {"task__train_examples": 1000, "finetune__epochs": 10.0}
    analyses = {
        # more unlabeled transfer text (plus the task's own training inputs, as in the default)
        "transfer_size": [(m, Setting("transfer_size", n), {"transfer_examples": n})
                          for n in (5000, 20000, 40000) if n != full_transfer for m in ("d", "pd")],
        # what the transfer text is about, at equal size and without the task's inputs mixed in
        "domain": [(m, Setting("domain", d), {"transfer": d, "transfer_examples": 20000, "include_train": False})
                   for d in ("movie", "glosses") for m in ("d", "pd")],
        # pre-training should matter most when labels are few; with few labels, 3 epochs are few steps
        "labels": [(m, Setting("labels", n), {"task__train_examples": n}) for n in (250, 1000, 4000) for m in ("basic", "pf")]
                  + [(m, Setting("labels", n, "epochs=10"), {"task__train_examples": n, "finetune__epochs": 10.0})
                     for n in (250, 1000) for m in ("basic", "pf")],
        # the pre-training budget as a curve (0 steps is basic training), with all labels and with 1,000
        "pretrain_steps": [("pf", Setting("pretrain_steps", n, extra), {"pretrain__steps": n, **kwargs})
                           for n in (steps // 4, steps // 2, steps * 2)
                           for extra, kwargs in (("", {}), (few_setting, few))],
        # in-domain pre-training text: movie dialogue and plots instead of general English
        "corpus": [("pf", Setting("corpus", "movie"), {"corpus": "movie"}), ("pd", Setting("corpus", "movie"), {"corpus": "movie"}),
                   ("pf", Setting("corpus", "movie", "labels=1000"), {"corpus": "movie", "task__train_examples": 1000}),
                   ("pf", Setting("corpus", "movie", few_setting), {"corpus": "movie", **few})],
        # the fine-tuning learning rate: a pre-trained student might keep more of what it learned at a lower one
        "finetune_lr": [(m, Setting("finetune_lr", lr, extra), {"finetune__lr": lr, **kwargs})
                        for lr in (1e-4, 1e-3) for extra, kwargs in (("", {}), (few_setting, few))
                        for m in ("basic", "pf")],
        # 64-token blocks (the task's length) at equal tokens per step: twice the blocks, half the attention cost
        "block": [("pf", Setting("block", 64, extra), {"pretrain__block_size": 64, "pretrain__batch_size": 64, **kwargs})
                  for extra, kwargs in (("", {}), (few_setting, few))],
        # a fresh 8,192-token student WordPiece: a quarter of the embedding rows, each seen ~4x as often
        "vocab": [(m, Setting("vocab", 8192, extra), {"vocab_size": 8192, **kwargs})
                  for extra, kwargs in (("", {}), (few_setting, few)) for m in ("basic", "pf")],
    }
    for analysis in args.analyses:
        for method, setting, kwargs in analyses.get(analysis, []):
            for seed in seeds:
                yield first, first, method, seed, setting, kwargs


def same_shape_runs(args, rows, teacher: str):
    """Per shape and pair of methods (basic and PF, then D and PD): each at every rate with seed 0, then the other
    seeds at the rate whose seed-0 validation accuracy was best. Lazy: the seeds after 0 read `rows` once the seed-0
    runs were appended to it, so a grid cut short still holds whole comparisons."""
    for shape in args.same_shapes:
        size = parse_size(shape, off_grid=True)
        for pair in (("basic", "pf"), ("d", "pd")):
            for method in pair:
                pretrained, rate = SAME_SHAPE[method]
                for lr in args.same_shape_lrs:
                    yield size.short, size, method, 0, Setting("same_shape", variant=f"lr={lr:g}"), {"pretrained": pretrained, rate: lr}
            for seed in [s for s in args.seeds if s != 0]:
                for method in pair:
                    pretrained, rate = SAME_SHAPE[method]
                    best = chosen_rate(rows, size.short, method, args.budget, teacher)
                    yield size.short, size, method, seed, Setting("same_shape", variant=f"lr={best:g}"), {"pretrained": pretrained, rate: best}
        if args.same_shape_pkd:  # the paper's "more elaborate" rival, from the teacher's own bottom layers
            for seed in args.seeds:
                yield size.short, size, "pkd", seed, Setting("same_shape", variant=f"lr={PKDConfig.lr:g}"), {}
        if args.same_shape_finetune_after:  # the paper's optional last step: PD, then fine-tuned at PF's rate
            for seed in args.seeds:
                distil, tune = (chosen_rate(rows, size.short, m, args.budget, teacher) for m in ("pd", "pf"))
                yield size.short, size, "pd", seed, Setting("same_shape", variant=f"lr={distil:g},finetune_after"), \
                    {"pretrained": "minilm", "distill__lr": distil, "finetune__lr": tune, "finetune_after": True}
        if args.same_shape_distill_epochs:  # PD distilled for longer, at the rate it chose
            for seed in args.seeds:
                distil, epochs = chosen_rate(rows, size.short, "pd", args.budget, teacher), args.same_shape_distill_epochs
                yield size.short, size, "pd", seed, Setting("same_shape", variant=f"lr={distil:g},distill_epochs={epochs:g}"), \
                    {"pretrained": "minilm", "distill__lr": distil, "distill__epochs": epochs}


def chosen_rate(rows, size: str, method: str, budget: str, teacher: str) -> float:
    """The learning rate whose seed-0 same-shape run had the best validation accuracy (results.same_shape's rule);
    D and PD choose among the runs that distilled from `teacher`."""
    table = same_shape(rows, budget)
    hit = table[(table["size"] == size) & (table["method"] == method) & (table["then"] == "")
                & (table["teacher"] == (teacher if method in distilled() else ""))]
    if hit.empty:
        raise RuntimeError(f"no seed-0 same-shape run of {method} at {size} to choose a learning rate from")
    return float(hit["lr"].iloc[0])


def teacher_row(budget: str, overrides: dict) -> dict:
    """The shared teacher as a row of its own, so every student sits beside its accuracy and latency."""
    b = get_budget(budget, **overrides)
    path = teacher(b, quiet=True)
    scores, shape = cache.metrics(path), cache.read_json(path / "config.json")
    row = {"size": f"L{shape['num_hidden_layers']}/H{shape['hidden_size']}", "method": "teacher", "seed": 0,
           **Setting().columns(), "budget": b.name, "teacher": teacher_name(b), "precision": resolve(b.precision),
           **{k: scores.get(k) for k in ("val_acc", "test_acc", "val_f1", "test_f1", "params", "wall_s", "latency_ms")},
           **cache.provenance(), "cpu_flags": " ".join(cpu_flags())}
    return {k: row.get(k) for k in COLUMNS}


def main_grid(rows, budget: str):
    """The methods x sizes part of the rows at one budget (students, truncated teachers, the teacher), typed; D, PD
    and the teacher's line come from the budget's own teacher (a study with another sits beside it, not in it)."""
    own = teacher_name(get_budget(budget))
    df = results_frame([r for r in rows if r["budget"] == budget
                        and (r["method"] not in (*distilled(), "teacher") or (r.get("teacher") or own) == own)])
    return df[df["analysis"].isin(["default", "layers"])] if len(df) else df


def write_static_figure(rows, budget: str, path: Path) -> bool:
    """The main figure as an SVG for the README (GitHub shows no plotly HTML); needs matplotlib, else skipped."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping", path.name, "(pip install matplotlib)")
        return False
    df = main_grid(rows, budget)
    stats = df.groupby(["size", "method"])["test_acc"].agg(["mean", "std", "count"])
    sizes = sorted({s for s, m in stats.index if m not in ("truncated", "teacher")}, key=lambda s: parse_size(s, off_grid=True).mlm_params)
    methods = [m for m in ("basic", "pf", "d", "pd") if m in set(df["method"])]
    refs = [(s, m) for s, m in stats.index if m in ("truncated", "teacher")]
    refs.sort(key=lambda sm: (sm[1] == "teacher", sm[0]))
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    width = 0.8 / len(methods)
    for j, method in enumerate(methods):
        xs = [i + (j - (len(methods) - 1) / 2) * width for i, s in enumerate(sizes) if (s, method) in stats.index]
        st = [stats.loc[(s, method)] for s in sizes if (s, method) in stats.index]
        ax.bar(xs, [r["mean"] for r in st], width, yerr=[r["std"] if r["count"] > 1 else 0 for r in st],
               capsize=3, color=method_color(method), label=method_label(method))
    for k, (size, method) in enumerate(refs):
        r = stats.loc[(size, method)]
        ax.bar(len(sizes) + k, r["mean"], 0.5, yerr=r["std"] if r["count"] > 1 else None, capsize=3,
               color=method_color(method), label=method_label(method) if (size, method) == refs[[m for _, m in refs].index(method)] else None)
    names = {"L2/H128": "Tiny\n2/128", "L4/H256": "Mini\n4/256"}
    ax.set_xticks(range(len(sizes) + len(refs)),
                  [names.get(s, s.replace("L", "").replace("/H", "/")) for s in sizes]
                  + [f"{'truncated' if m == 'truncated' else 'teacher'}\n{s.replace('L', '').replace('/H', '/')}" for s, m in refs])
    low = float(df["test_acc"].min())
    ax.set_ylim(max(0.0, low - 0.05), min(1.0, float(df["test_acc"].max()) + 0.03))
    ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    ax.set_title(f"Methods by student size ({budget} budget, Rotten Tomatoes split by movie)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with cache.atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix[1:], **({"metadata": {"Date": None}} if path.suffix == ".svg" else {}))
    plt.close(fig)
    return True


def side_by_side_latency(sizes: list[str], seq_len: int, rounds: int = 5, repeats: int = 20) -> dict:
    """Milliseconds per 64-token sequence for each architecture, measured in interleaved rounds (median), so that
    machine noise hits every size alike; L*/H384 are MiniLM's own configuration cut to that depth."""
    from transformers import AutoConfig, BertModel

    from wellread.data import teacher_dir
    models = {}
    for size in sizes:
        shape = parse_size(size, off_grid=True)
        if shape.hidden == 384:
            config = AutoConfig.from_pretrained(teacher_dir(), num_hidden_layers=shape.layers)
        else:
            config = shape.bert_config()
        models[size] = BertModel(config, add_pooling_layer=False)
    times = {size: [] for size in sizes}
    for _ in range(rounds):
        for size, model in models.items():
            times[size].append(latency_ms(model, batch=1, seq_len=seq_len, repeats=repeats))
    return {size: sorted(t)[len(t) // 2] for size, t in times.items()}


def summary(rows, budget: str) -> str:
    """A markdown table of the main grid: test accuracy mean ± sd over seeds, distance to the teacher, and CPU
    latency measured now, side by side, against the teacher's."""
    df = main_grid(rows, budget)
    if df.empty or not (df["method"] == "teacher").any():
        return ""
    b = get_budget(budget)
    teacher_size = df.loc[df["method"] == "teacher", "size"].iloc[0]
    t_acc = float(df.loc[df["method"] == "teacher", "test_acc"].mean())
    sizes = sorted(set(df["size"]), key=lambda s: parse_size(s, off_grid=True).encoder_flops(b.task.max_len))
    latency = side_by_side_latency(sizes, b.task.max_len)
    t_flops = parse_size(teacher_size, off_grid=True).encoder_flops(b.task.max_len)
    lines = [f"| size | method | seeds | test (mean ± sd) | val | vs teacher | CPU ms / {b.task.max_len} tokens | speed-up | "
             "teacher's encoder FLOPs / these |", "|---|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        for method in [m for m in (*METHODS, "teacher") if ((df["size"] == size) & (df["method"] == m)).any()]:
            g = df[(df["size"] == size) & (df["method"] == method)]
            sd = f" ± {g['test_acc'].std():.3f}" if len(g) > 1 else ""
            flops = t_flops / parse_size(size, off_grid=True).encoder_flops(b.task.max_len)
            lines.append(f"| {size} | {method} | {len(g)} | {g['test_acc'].mean():.3f}{sd} | {g['val_acc'].mean():.3f} | "
                         f"{100 * (g['test_acc'].mean() - t_acc):+.1f} | {latency[size]:.1f} | "
                         f"{latency[teacher_size] / latency[size]:.1f}x | {flops:.1f}x |")
    return "\n".join(lines)


def pf_lead(rows, budget: str) -> str:
    """A markdown table of PF's lead over basic training in every setting where both ran (the pre-training effect)."""
    lead = lead_frame([r for r in rows if r["budget"] == budget])
    if lead.empty:
        return ""
    lines = ["| size | setting | seeds (basic/PF) | basic test (val) | PF test (val) | PF - basic, test points |",
             "|---|---|---|---|---|---|"]
    for (_, size, setting), r in lead.iterrows():
        lines.append(f"| {size} | {setting} | {r['seeds', 'basic']:.0f}/{r['seeds', 'pf']:.0f} | "
                     f"{r['test', 'basic']:.3f} ({r['val', 'basic']:.3f}) | {r['test', 'pf']:.3f} ({r['val', 'pf']:.3f}) | "
                     f"{100 * r['pf - basic'].item():+.1f} |")
    return "\n".join(lines)


def same_shape_summary(rows, budget: str) -> str:
    """A markdown table of the same-shape rows: each method at its chosen rate, beside the teacher."""
    table = same_shape(rows, budget)
    teachers = {r.get("teacher") or "": float(r["test_acc"]) for r in rows if r["method"] == "teacher" and r["budget"] == budget}
    if table.empty or not teachers:
        return ""
    lines = ["| shape | method | start | teacher | lr (chosen on val) | seeds | test (mean ± sd) | val | vs teacher | "
             "CPU ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        sd = f" ± {r['test_sd']:.3f}" if r["seeds"] > 1 else ""
        # basic and PF learn from labels only: set beside every teacher's line, the first one's here
        versus = teachers.get(r["teacher"], next(iter(teachers.values())))
        method = {"": r["method"], "finetune_after": f"{r['method']} + fine-tune"}.get(r["then"], f"{r['method']}, {r['then']}")
        lines.append(f"| {r['size']} | {method} | {r['pretrained']} | {r['teacher'] or '—'} | {r['lr']:g} | "
                     f"{r['seeds']} | {r['test_acc']:.3f}{sd} | {r['val_acc']:.3f} | {100 * (r['test_acc'] - versus):+.1f} | "
                     f"{r['latency_ms']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["L2/H128", "L4/H256"],
                        help="students (the issue also names L4/H128 and L2/H256: each adds one pre-training)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--truncated-layers", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--analyses", nargs="+", default=list(ANALYSES), choices=[*ANALYSES, "none"])
    parser.add_argument("--analysis-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--same-shapes", nargs="+", default=[], metavar="SHAPE",
                        help="e.g. L4/H384 L2/H384: random start vs MiniLM's layers at that shape (see SAME_SHAPE)")
    parser.add_argument("--same-shape-lrs", nargs="+", type=float, default=[1e-4, 3e-4])
    parser.add_argument("--same-shape-pkd", action="store_true",
                        help="also PKD (pkd.py) at each shape: the teacher's bottom layers, its soft labels and states")
    parser.add_argument("--only-same-shape", action="store_true", help="skip the grid and the analyses")
    parser.add_argument("--same-shape-finetune-after", action="store_true",
                        help="also PD fine-tuned on the labels after distilling, at the rates PD and PF chose")
    parser.add_argument("--same-shape-distill-epochs", type=float, default=None, metavar="EPOCHS",
                        help="also PD distilled for this many epochs, at the rate PD chose")
    parser.add_argument("--budget", default=GRID_BUDGET, help=f"default {GRID_BUDGET}, the committed main grid's")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="override a budget field for every run, e.g. --set teacher__init=mpnet (its rows name "
                             "the teacher, so a grid with another teacher sits beside the first)")
    parser.add_argument("--out", type=Path, default=OUT / "results.csv")
    args = parser.parse_args(argv)

    overrides = parse_overrides(args.set)
    teacher = teacher_name(get_budget(args.budget, **overrides))
    rows = read_rows(args.out)
    done = {(r["size"], r["method"], r["seed"], r["setting"], r["budget"], r.get("teacher") or "") for r in rows}
    plan = [] if args.only_same_shape else list(planned_runs(args))
    if not any(r["method"] == "teacher" and r["budget"] == args.budget and r.get("teacher") == teacher for r in rows):
        rows.append(teacher_row(args.budget, overrides))
        write_rows(rows, args.out)
    started = time.time()
    for i, (label, size, method, seed, setting, kwargs) in enumerate(chain(plan, same_shape_runs(args, rows, teacher)), 1):
        key = (label, method, str(seed), setting.name, args.budget, teacher if method in distilled() else "")
        if key in done:
            continue
        t0 = time.time()
        result = run(method, size, args.budget, seed, quiet=True, **overrides, **kwargs)
        rows.append(result.record(setting))
        done.add(key)
        write_rows(rows, args.out)
        print(f"[{i}] {label:<8} {method:<9} seed={seed} {setting.name:<22} val {result.val_acc:.3f} "
              f"test {result.test_acc:.3f}  ({time.time() - t0:.0f} s)", flush=True)
    print(f"grid done in {time.time() - started:.0f} s -> {args.out}")
    print(summary(rows, args.budget))
    print("\nPre-training's effect: PF against basic training, mean over seeds")
    print(pf_lead(rows, args.budget))
    # the main grid's budget reads the committed analyses where the notebooks do; any other budget reads its own
    analyses_budget = ANALYSES_BUDGET if args.budget == GRID_BUDGET else args.budget
    print(f"\nSame shape ({analyses_budget} budget): a random start against MiniLM's pre-trained layers")
    print(same_shape_summary(rows, analyses_budget))
    for finding in findings(rows, args.budget, analyses_budget).values():
        print("\n" + finding.text())
    # the README's figures (the main grid at GRID_BUDGET, the analyses at ANALYSES_BUDGET); one budget per figure
    readme_figures = committed_figures(rows)
    for name, figure in readme_figures.items():
        figure.write_html(args.out.parent / f"{name}.html", include_plotlyjs="cdn")
    if "methods" in readme_figures:
        write_static_figure(rows, GRID_BUDGET, args.out.parent / "methods.svg")
    if args.budget not in (GRID_BUDGET, ANALYSES_BUDGET):  # another budget's figures carry its name
        for name, figure in results_figures([r for r in rows if r["budget"] == args.budget]).items():
            figure.write_html(args.out.parent / f"{args.budget}-{name}.html", include_plotlyjs="cdn")
        write_static_figure(rows, args.budget, args.out.parent / f"{args.budget}-methods.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
