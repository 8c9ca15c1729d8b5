"""The results the kit has measured: the reproduction grid (benchmarks/reproduce.py -> data/results/results.csv)
and notebook 5's own runs parsed into analyses, PF's lead over basic training, their figures, and the
paper's published numbers (data/paper_results.csv) to set beside them."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import plots
from .budget import get_budget
from .sizes import VOCAB_SIZE, parse_size

DATA = Path(__file__).resolve().parents[1] / "data"


def paper_results() -> pd.DataFrame:
    """data/paper_results.csv: GLUE test scores published with the miniatures (with citations)."""
    return pd.read_csv(DATA / "paper_results.csv")


def results_grid() -> pd.DataFrame | None:
    """The reproduction benchmark's committed results (data/results/*.csv) or None if there are none."""
    folder = DATA / "results"
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        return None
    return pd.concat([pd.read_csv(f).assign(file=f.name) for f in files], ignore_index=True)


_NUMERIC = ("seed", "val_acc", "test_acc", "val_f1", "test_f1", "params", "latency_ms", "wall_s")
ANALYSES = {"transfer": ("transfer_size", "transfer examples", True),
            "domain": ("domain", "transfer text", False),
            "labels": ("labels", "labeled examples", True),
            "pretrain_steps": ("pretrain_steps", "pre-training steps", False),
            "corpus": ("corpus", "pre-training text", False),
            "finetune_lr": ("finetune_lr", "fine-tuning learning rate", True),
            "block": ("block", "pre-training block length (tokens)", False),
            "vocab": ("vocab", "student vocabulary (tokens)", True)}


def results_frame(rows):
    """Rows (dicts, e.g. read from the CSV as strings, or a DataFrame) -> a typed DataFrame with `analysis`, `x`
    and `variant` parsed from `setting` ("default", "transfer=5000", "labels=1000,epochs=10", ...)."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        return df
    for col in _NUMERIC:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    setting = df["setting"].fillna("default").astype(str) if "setting" in df else pd.Series("default", index=df.index)
    parts = setting.str.partition(",")
    first, df["variant"] = parts[0], parts[2]
    df["analysis"] = first.str.split("=").str[0].where(first.str.contains("="), "default")
    df["x"] = first.str.split("=", n=1).str[1]
    numeric_x = pd.to_numeric(df["x"], errors="coerce")
    df["x"] = numeric_x.where(numeric_x.notna(), df["x"])
    return df


def pf_lead(rows):
    """PF against basic training wherever both ran: test and validation means over seeds, seeds, and PF - basic."""
    df = results_frame(rows)
    if df.empty or not {"basic", "pf"} <= set(df["method"]):
        return df.iloc[:0]
    both = df[df["method"].isin(["basic", "pf"])].groupby(["budget", "size", "setting", "method"])
    lead = both.agg(test=("test_acc", "mean"), val=("val_acc", "mean"), seeds=("seed", "nunique")).unstack("method")
    lead = lead.dropna()
    lead["pf - basic"] = lead["test", "pf"] - lead["test", "basic"]
    return lead


def _layers(size) -> int | None:
    try:
        return parse_size(size, off_grid=True).layers
    except ValueError:
        return None


def _reference_points(df, part, key):
    """The default runs an analysis varies from, placed on its axis (matched on size and labels): e.g. basic
    training at 0 pre-training steps, PF at the budget's steps, the teacher's 30,522-token vocabulary."""
    default_x = {"pretrain_steps": lambda b: get_budget(b).pretrain.steps, "corpus": lambda b: "general",
                 "finetune_lr": lambda b: get_budget(b).finetune.lr, "block": lambda b: get_budget(b).pretrain.block_size,
                 "vocab": lambda b: VOCAB_SIZE}
    if key not in default_x:
        return df.iloc[:0]
    methods = set(part["method"]) | ({"basic"} if key == "pretrain_steps" else set())
    settings = {"": "default"} | {v: v for v in part["variant"] if v.startswith("labels=")}  # variant -> its setting
    points = []
    for variant, setting in settings.items():
        ref = df[df["size"].isin(set(part["size"])) & df["method"].isin(methods) & (df["setting"] == setting)].copy()
        ref["analysis"], ref["variant"] = key, variant
        budgets = ref["budget"] if "budget" in ref else ["classroom"] * len(ref)
        ref["x"] = [0 if key == "pretrain_steps" and m == "basic" else default_x[key](b)
                    for m, b in zip(ref["method"], budgets)]
        if key == "pretrain_steps":
            ref["method"] = "pf"  # one line: basic training is PF with no pre-training
        points.append(ref)
    return pd.concat(points)


def results_figures(rows, metric: str = "test_acc", source: str = "") -> dict:
    """Figures for whatever the rows hold: "methods" (the main grid) and one per analysis present."""
    df = results_frame(rows)
    figures = {}
    if df.empty:
        return figures
    suffix = f" — {source}" if source else ""
    # the truncated teacher ran with several depths: keep the one as deep as the student it stands beside
    same_depth = pd.Series([a == "default" or _layers(s) == x for s, a, x in zip(df["size"], df["analysis"], df["x"])],
                           index=df.index)
    main = df[df["analysis"].isin(["default", "layers"]) & same_depth]
    if not main.empty:
        figures["methods"] = plots.methods_by_size(main, metric, title="Methods by student size" + suffix)
    for key, (name, x_title, log_x) in ANALYSES.items():
        part = df[df["analysis"] == key]
        if not part.empty:
            part = pd.concat([part, _reference_points(df, part, key)])
            figures[name] = plots.experiment(part, "x", metric, title=f"{x_title.capitalize()}{suffix}", log_x=log_x,
                                       x_title=x_title)
    return figures
