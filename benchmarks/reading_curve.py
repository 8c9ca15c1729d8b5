"""The reading curve: how much a Tiny student (L2/H128) gains on the task from the tokens it read in masked-LM
pre-training. One long pre-training run keeps a snapshot at each point; each point (and a random start, 0 tokens)
is then fine-tuned with all labels and with 1,000 labels, three seeds each, and the rows are added to
data/results/results.csv (setting "reading=<steps>", "reading=<steps>,labels=1000,epochs=<E>").

    python benchmarks/reading_curve.py pretrain      # hours on 2 CPU cores; resumes where it stopped
    python benchmarks/reading_curve.py rows          # fine-tunes every point built so far; skips rows already there
    python benchmarks/reading_curve.py figure        # data/results/reading_curve.{html,svg} (the SVG needs matplotlib)
    python benchmarks/reading_curve.py table         # the markdown table of docs/results.md

Every step is resumable: run it again after any interruption.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import wellread  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
from wellread import methods, plots, results
from wellread.budget import get_budget
from wellread.pretrain import is_built, pretrain
from wellread.recipes import run

SIZE = "L2/H128"
BUDGET = "classroom-v2"
SEEDS = (0, 1, 2)
# Steps of 32 blocks x 128 tokens: 2.0M, 6.1M, 24.6M, 49.2M and 102.4M tokens read.
POINTS = (500, 1_500, 6_000, 12_000, 25_000)
# One schedule for every point (each point is a snapshot of the longest run), with the classroom's 30 warm-up steps.
CURVE = {"pretrain__schedule_steps": POINTS[-1], "pretrain__warmup_frac": 30 / POINTS[-1], "pretrain__eval_every": 500}
# 1,000 labels are 32 steps an epoch: the epochs are chosen on seed 0's validation accuracy at each point.
FEW_LABELS, EPOCH_CHOICES = 1000, (10, 30)


def point_overrides(steps: int) -> dict:
    """The budget overrides whose pre-training is the curve's point at `steps` (0: no pre-training)."""
    return {**CURVE, "pretrain__steps": steps} if steps else {}


def run_pretraining() -> None:
    config = replace(get_budget(BUDGET, **point_overrides(POINTS[-1])).pretrain, size=SIZE)
    pretrain(config, snapshots=POINTS[:-1], checkpoint_every=250)


def _best_epochs(rows: list[dict], steps: int) -> int:
    """The epoch count whose seed-0 run at this point had the best validation accuracy (ties: the fewer)."""
    scored = [(float(r["val_acc"]), -e) for e in EPOCH_CHOICES for r in rows
              if r["budget"] == BUDGET and r["seed"] in ("0", 0) and r["size"] == SIZE
              and r["setting"] == results.Setting("reading", steps, f"labels={FEW_LABELS},epochs={e}").name]
    return -max(scored)[1]


def planned_runs(rows: list[dict]):
    """(method, seed, setting, overrides) for every point built so far; lazy, so the seeds after 0 read the rows
    that seed 0's runs added."""
    for steps in (0, *POINTS):
        if steps and not is_built(replace(get_budget(BUDGET, **point_overrides(steps)).pretrain, size=SIZE)):
            print(f"the point at {steps} steps is not pre-trained yet: run `reading_curve.py pretrain`")
            continue
        method, base = ("pf" if steps else "basic"), point_overrides(steps)
        for seed in SEEDS:
            yield method, seed, results.Setting("reading", steps), base
        few = {**base, "task__train_examples": FEW_LABELS}
        for epochs in EPOCH_CHOICES:
            yield method, 0, results.Setting("reading", steps, f"labels={FEW_LABELS},epochs={epochs}"), {**few, "finetune__epochs": float(epochs)}
        for seed in SEEDS[1:]:
            epochs = _best_epochs(rows, steps)
            yield method, seed, results.Setting("reading", steps, f"labels={FEW_LABELS},epochs={epochs}"), {**few, "finetune__epochs": float(epochs)}


def add_rows() -> None:
    rows = results.read_rows()
    done = {(r["size"], r["method"], str(r["seed"]), r["setting"], r["budget"]) for r in rows}
    for method, seed, setting, overrides in planned_runs(rows):
        if (SIZE, method, str(seed), setting.name, BUDGET) in done:
            continue
        started = time.time()
        result = run(method, SIZE, BUDGET, seed, quiet=True, **overrides)
        rows.append(result.record(setting))
        done.add((SIZE, method, str(seed), setting.name, BUDGET))
        results.write_rows(rows)
        print(f"{setting.name:<36} seed {seed}: val {result.val_acc:.3f} test {result.test_acc:.3f} "
              f"({time.time() - started:.0f} s)", flush=True)
    print(results.reading_table(rows).to_string(index=False))


def write_figure() -> None:
    """The plotly figure the notebook shows (HTML) and a static one for the README (SVG, where matplotlib is installed)."""
    rows = results.read_rows()
    frame, ends = results.reading_frame(rows), results.reading_ends(rows)
    folder = results.RESULTS_CSV.parent
    plots.reading_curve(frame, ends).write_html(folder / "reading_curve.html", include_plotlyjs="cdn")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no reading_curve.svg (pip install matplotlib)")
        return
    table = results.reading_table(rows)
    read = table[table["steps"] > 0]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=100)
    losses = read[read["labels"] == "all"]
    axes[0].plot(losses["tokens"], losses["heldout_loss"], "o-", color=methods.PF.color, label="the student")
    axes[0].axhline(losses["unigram_loss"].iloc[0], ls=":", color="#7f7f7f", label="unigram model")
    axes[0].set_title("held-out masked-LM loss (nats)", fontsize=10)
    axes[0].legend(fontsize=8)
    for ax, labels, title in ((axes[1], "all", "test accuracy, all labels"), (axes[2], "1000", "test accuracy, 1,000 labels")):
        part = read[read["labels"] == labels]
        ax.errorbar(part["tokens"], part["test_mean"], yerr=part["test_sd"].fillna(0), fmt="o-", capsize=3,
                    color=methods.PF.color, label="PF, 3 seeds")
        start = table[(table["steps"] == 0) & (table["labels"] == labels)]
        if len(start):
            ax.axhline(start["test_mean"].iloc[0], ls="--", color=methods.BASIC.color, label="random start")
        if labels == "all" and len(ends):
            ax.errorbar([results.PAPER_WORDS] * len(ends), ends["test_acc"], yerr=ends["test_sd"].fillna(0), fmt="D",
                        color=methods.TRUNCATED.color, label="MiniLM's layers (L2, L4/H384; x: 3.3B words)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left" if labels == "all" else "lower right")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("tokens read in pre-training")
    fig.suptitle("The reading curve: Tiny (L2/H128) pre-trained on the kit's corpus, then fine-tuned "
                 f"({BUDGET} budget, {frame['precision'].iloc[0] if len(frame) else ''}, 2-core CPU)", fontsize=10)
    fig.tight_layout()
    fig.savefig(folder / "reading_curve.svg")
    print(f"wrote {folder / 'reading_curve.svg'} and reading_curve.html")


def print_markdown() -> None:
    """The curve as the markdown table docs/results.md shows."""
    rows = results.read_rows()
    table, frame = results.reading_table(rows), results.reading_frame(rows)
    train_tokens = {int(r["steps"]): r for _, r in table.iterrows()}
    print("| tokens read | steps | held-out MLM loss (unigram) | test, all labels | test, 1,000 labels (epochs) |")
    print("|---|---|---|---|---|")
    for steps in sorted({int(s) for s in table["steps"]}):
        cells = []
        for labels in ("all", "1000"):
            hit = table[(table["steps"] == steps) & (table["labels"] == labels)]
            if len(hit):
                r = hit.iloc[0]
                epochs = f" ({r['epochs']:g})" if labels == "1000" and r["epochs"] == r["epochs"] else ""
                cells.append(f"{r['test_mean']:.3f} ± {r['test_sd']:.3f}{epochs}")
            else:
                cells.append("—")
        r = train_tokens[steps]
        loss = f"{r['heldout_loss']:.2f} ({r['unigram_loss']:.2f})" if steps else "—"
        print(f"| {r['tokens'] / 1e6:.1f}M | {steps:,} | {loss} | {cells[0]} | {cells[1]} |")
    if len(frame):
        first = frame.iloc[0]
        print(f"\n{len(frame)} rows; budget {BUDGET}; precision {first['precision']}; machine {first['machine']} "
              f"({first['cpu_flags']}); commits {', '.join(sorted(set(frame['commit'])))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["pretrain", "rows", "figure", "table"])
    args = parser.parse_args()
    {"pretrain": run_pretraining, "rows": add_rows, "figure": write_figure, "table": print_markdown}[args.step]()


if __name__ == "__main__":
    main()
