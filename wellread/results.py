"""The results the kit has measured: the reproduction grid (benchmarks/reproduce.py -> data/results/results.csv)
and notebook 5's own runs parsed into analyses, PF's lead over basic training, their figures, and the
paper's published numbers (data/paper_results.csv) to set beside them."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import plots
from .budget import get_budget
from .cache import atomic_path
from .methods import BASIC, D, METHODS, PD, PF, TRUNCATED
from .sizes import VOCAB_SIZE, parse_size

DATA = Path(__file__).resolve().parents[1] / "data"
# The budgets the committed results ran at (budget.BUDGETS says what each is): the main grid (methods x sizes x seeds)
# and the reading curve at classroom-v2; the analyses and the same-shape study, hours of CPU each, at classroom-v1,
# whose main grid the classroom-v2 one matches within noise. Each finding and figure names the budget it read.
GRID_BUDGET = "classroom-v2"
ANALYSES_BUDGET = "classroom-v1"


# The committed results file's columns: the run, what it varies (analysis, x, variant: typed fields; `setting` is their
# name for people), its scores, where and how it ran, and what the student read.
COLUMNS = ["size", "method", "seed", "setting", "analysis", "x", "variant", "val_acc", "test_acc", "val_f1", "test_f1",
           "params", "latency_ms", "wall_s", "budget", "commit", "date", "machine", "task", "pretrained", "teacher",
           "labels", "pretrain_tokens", "heldout_loss", "unigram_loss", "precision", "cpu_flags"]
RESULTS_CSV = DATA / "results" / "results.csv"


def read_rows(path=RESULTS_CSV) -> list[dict]:
    """The committed rows as dicts of strings (every column present)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: row.get(k) or "" for k in COLUMNS} for row in csv.DictReader(f)]


def write_rows(rows: list[dict], path=RESULTS_CSV) -> None:
    """Write every row, atomically (an interrupted write leaves the previous file)."""
    with atomic_path(Path(path)) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def paper_results() -> pd.DataFrame:
    """data/paper_results.csv: GLUE test scores published with the miniatures (with citations)."""
    return pd.read_csv(DATA / "paper_results.csv")


def compression_comparison() -> pd.DataFrame:
    """data/compression_comparison.csv: PD beside PKD and DistilBERT at 6 layers x 768, GLUE test, as published
    (TinyBERT's Table 1; the paper's own tables are not in the kit's reach), with citations."""
    return pd.read_csv(DATA / "compression_comparison.csv")


def results_grid() -> pd.DataFrame | None:
    """The reproduction benchmark's committed results (data/results/*.csv) or None if there are none."""
    folder = DATA / "results"
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        return None
    return pd.concat([pd.read_csv(f).assign(file=f.name) for f in files], ignore_index=True)


_NUMERIC = ("seed", "val_acc", "test_acc", "val_f1", "test_f1", "params", "latency_ms", "wall_s", "labels", "pretrain_tokens",
            "heldout_loss", "unigram_loss")
# The analyses a run can belong to: name -> (figure name, x axis title, log x). A rename here is followed by every
# reader, notebook and figure; Setting refuses a name that is not here.
ANALYSES = {"transfer_size": ("transfer_size", "transfer examples", True),
            "domain": ("domain", "transfer text", False),
            "labels": ("labels", "labeled examples", True),
            "pretrain_steps": ("pretrain_steps", "pre-training steps", False),
            "corpus": ("corpus", "pre-training text", False),
            "finetune_lr": ("finetune_lr", "fine-tuning learning rate", True),
            "block": ("block", "pre-training block length (tokens)", False),
            "vocab": ("vocab", "student vocabulary (tokens)", True)}
# Runs that are not an analysis along one axis: the main grid, the truncated teacher's depths, the same-shape study,
# the reading curve and the fair well-read design.
GROUPS = ("default", "layers", "same_shape", "reading", "fair_well_read")


@dataclass(frozen=True)
class Setting:
    """What a run varies, as typed fields of its record: its analysis (ANALYSES or GROUPS), its x value on that
    analysis's axis, and a variant (a second knob held fixed along the axis, e.g. "epochs=10")."""
    analysis: str = "default"
    x: object = ""
    variant: str = ""

    def __post_init__(self):
        if self.analysis not in (*ANALYSES, *GROUPS):
            raise ValueError(f"unknown analysis {self.analysis!r}; valid: {[*ANALYSES, *GROUPS]}")

    @property
    def name(self) -> str:
        """The setting's name for people and for finding a row again: "transfer_size=5000", "labels=1000,epochs=10"."""
        head = self.analysis if self.x in ("", None) else f"{self.analysis}={self.x:g}" if isinstance(self.x, float) \
            else f"{self.analysis}={self.x}"
        return ",".join(part for part in (head, self.variant) if part)

    def columns(self) -> dict:
        return {"setting": self.name, "analysis": self.analysis, "x": self.x, "variant": self.variant}


def results_frame(rows):
    """Rows (dicts, e.g. read from the CSV as strings, or a DataFrame) -> a typed DataFrame: numbers as numbers, x a
    number where it is one, every row's analysis and variant filled."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        return df
    for col in _NUMERIC:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    for col, empty in (("analysis", "default"), ("variant", ""), ("x", "")):
        df[col] = df[col].fillna(empty).replace("", empty) if col in df else empty
    numeric_x = pd.to_numeric(df["x"], errors="coerce")
    df["x"] = numeric_x.where(numeric_x.notna(), df["x"]).astype(object)
    return df


def of(frame, analysis: str):
    """The rows of one analysis; a name no run can produce is refused (a renamed analysis fails loudly, not empty)."""
    Setting(analysis)
    return frame[frame["analysis"] == analysis] if len(frame) else frame


# The paper's three orderings, as the fair well-read design measures them: (better, worse, what the gap shows).
ORDERINGS = [(PF.name, BASIC.name, "reading helps"), (PD.name, D.name, "reading compounds with distillation"),
             (PD.name, PF.name, "distillation adds to reading")]


def fair_setting(labels: int) -> Setting:
    """The fair well-read design's setting: the teacher, basic and PF on `labels` labelled examples."""
    return Setting("fair_well_read", variant=f"labels={labels}")


def ordering_gaps(rows, budget: str, labels: int = 1000) -> pd.DataFrame:
    """Each ordering's gap in test accuracy (points) in the fair well-read rows, paired by seed: mean, sd, twice the
    standard error of the mean, and the validation gap beside it."""
    df = results_frame(rows)
    df = df[(df["budget"] == budget) & (df["setting"] == fair_setting(labels).name)] if len(df) else df
    test = df.pivot_table(index="seed", columns="method", values="test_acc") if len(df) else pd.DataFrame()
    val = df.pivot_table(index="seed", columns="method", values="val_acc") if len(df) else pd.DataFrame()
    out = []
    for better, worse, why in ORDERINGS:
        paired = {better, worse} <= set(test.columns)
        gap = ((test[better] - test[worse]).dropna() * 100) if paired else pd.Series(dtype=float)
        n, sd = len(gap), float(gap.std()) if len(gap) > 1 else float("nan")
        out.append({"gap": f"{METHODS[better].short} − {METHODS[worse].short}", "why": why, "seeds": n,
                    "test": float(gap.mean()) if n else float("nan"), "sd": sd, "two_se": 2 * sd / n ** 0.5 if n else sd,
                    "val": float((val[better] - val[worse]).mean() * 100) if paired else float("nan")})
    return pd.DataFrame(out)


def pf_lead(rows):
    """PF against basic training wherever both ran: test and validation means over seeds, seeds, and PF - basic."""
    df = results_frame(rows)
    if df.empty or not {BASIC.name, PF.name} <= set(df["method"]):
        return df.iloc[:0]
    both = df[df["method"].isin([BASIC.name, PF.name])].groupby(["budget", "size", "setting", "method"])
    lead = both.agg(test=("test_acc", "mean"), val=("val_acc", "mean"), seeds=("seed", "nunique")).unstack("method")
    lead = lead.dropna()
    lead[("pf - basic", "")] = lead["test", PF.name] - lead["test", BASIC.name]
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
        budgets = ref["budget"] if "budget" in ref else [ANALYSES_BUDGET] * len(ref)
        ref["x"] = [0 if key == "pretrain_steps" and m == BASIC.name else default_x[key](b)
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


def committed_figures(rows, metric: str = "test_acc") -> dict:
    """The README's figures: the methods from the main grid at GRID_BUDGET, each analysis at ANALYSES_BUDGET."""
    df = results_frame(rows)
    if df.empty:
        return {}
    main_grid = df[(df["budget"] == GRID_BUDGET) & df["analysis"].isin(["default", "layers"])]  # methods only
    analyses = results_figures(df[df["budget"] == ANALYSES_BUDGET], metric,
                               source=grid_name(ANALYSES_BUDGET))
    analyses.pop("methods", None)  # that budget's main grid is not the README's
    return {**results_figures(main_grid, metric, source=grid_name(GRID_BUDGET)), **analyses}


def grid_name(budget: str) -> str:
    """How a lesson names the committed rows of a budget: learners track one reference grid, not budget versions
    (docs/results.md says which budget each is)."""
    return {GRID_BUDGET: "the reference grid", ANALYSES_BUDGET: "the longer reference grid"}.get(
        budget, f"the {budget} budget's runs")


def teacher_words(teacher: str) -> str:
    """A teacher id ("minilm-l6-1ep") in words: "MiniLM fine-tuned 1 epoch"."""
    model, _, epochs = str(teacher).rpartition("-")
    name = {"minilm-l6": "MiniLM", "mpnet-base": "MPNet"}.get(model, model or str(teacher))
    count = epochs.removesuffix("ep")
    return f"{name} fine-tuned {count} epoch{'' if count == '1' else 's'}" if model else name


def committed_budget(frame, budget: str) -> str:
    """The budget whose committed main-grid rows a run at `budget` is set beside: its own where rows ran at it, else
    GRID_BUDGET (the classroom budget was cut for the tour after its grid ran)."""
    return budget if len(frame) and (frame["budget"] == budget).any() else GRID_BUDGET


def same_shape(rows, budget: str = ANALYSES_BUDGET) -> pd.DataFrame:
    """The same-shape rows (reproduce.py --same-shapes): per shape, method, teacher (D and PD, one per teacher that
    labelled their transfer set) and variant (`then`: "" for the plain recipe, "finetune_after" for PD fine-tuned on
    the labels after distilling, "distill_epochs=2"), the rate chosen on seed-0 validation and its runs over seeds."""
    columns = ["size", "method", "then", "teacher", "pretrained", "lr", "seeds", "test_acc", "test_sd", "val_acc",
               "latency_ms", "params"]
    df = results_frame(rows)
    if df.empty or "same_shape" not in set(df["analysis"]):
        return pd.DataFrame(columns=columns)
    df = df[(df["analysis"] == "same_shape") & (df["budget"] == budget)].copy()
    df["lr"] = pd.to_numeric(df["variant"].str.extract(r"lr=([^,]+)")[0], errors="coerce")
    df["then"] = df["variant"].str.replace(r"lr=[^,]+,?", "", regex=True)
    df["teacher"] = df["teacher"].fillna("").astype(str) if "teacher" in df else ""
    out = []
    for (size, method, then, teacher), g in df.groupby(["size", "method", "then", "teacher"], sort=False):
        first = g[g["seed"] == 0].sort_values("lr", kind="stable")  # a tie on validation keeps the smaller rate
        lr = first.loc[first["val_acc"].idxmax(), "lr"] if len(first) else g["lr"].iloc[0]
        runs = g[g["lr"] == lr]
        out.append({"size": size, "method": method, "then": then, "teacher": teacher,
                    "pretrained": runs.get("pretrained", pd.Series(["?"])).iloc[0],
                    "lr": lr, "seeds": len(runs), "test_acc": runs["test_acc"].mean(),
                    "test_sd": runs["test_acc"].std() if len(runs) > 1 else float("nan"),
                    "val_acc": runs["val_acc"].mean(), "latency_ms": runs["latency_ms"].mean(),
                    "params": runs["params"].iloc[0]})
    return pd.DataFrame(out, columns=columns)


def starts_frame(mine, rows=None, budget: str = ANALYSES_BUDGET) -> pd.DataFrame:
    """Where each student started (none, own, minilm, google) and how it was trained, side by side: your runs
    (`mine`, rows of Result.row()) and the committed grid's same-shape rows. One row per (start, size, recipe)."""
    out = []
    df = pd.DataFrame(list(mine) if not isinstance(mine, pd.DataFrame) else mine)
    df = df[df["method"].isin([m.name for m in METHODS.values() if m.name != TRUNCATED.name])] if len(df) else df
    if len(df):
        start = df["pretrained"] if "pretrained" in df else df["method"].map({m: m_.starts[0] for m, m_ in METHODS.items()})
        for (begin, size, method), g in df.assign(start=start.fillna("none")).groupby(["start", "size", "method"]):
            out.append({"start": begin, "size": size, "recipe": METHODS[method].recipe, "method": method, "source": "your runs",
                        "seeds": len(g), "test_acc": g["test_acc"].mean(),
                        "test_sd": g["test_acc"].std() if len(g) > 1 else float("nan")})
    if rows is not None:
        for _, r in same_shape(rows, budget).query("then == ''").iterrows():
            out.append({"start": r["pretrained"], "size": r["size"], "recipe": METHODS[r["method"]].recipe, "method": r["method"],
                        "source": "committed grid", "lr": r["lr"], "seeds": r["seeds"], "test_acc": r["test_acc"],
                        "test_sd": r["test_sd"]})
    order = {"none": 0, "own": 1, "minilm": 2, "google": 3}
    frame = pd.DataFrame(out, columns=["start", "size", "recipe", "method", "source", "lr", "seeds", "test_acc", "test_sd"])
    frame["_first"] = (frame["source"] != "your runs").astype(int)  # your runs, then the grid's
    frame["_start"] = frame["start"].map(order).fillna(len(order))
    return frame.sort_values(["_first", "size", "_start", "recipe"], ignore_index=True).drop(columns=["_first", "_start"])


# ---------------------------------------------------------------------------------------------------
# The reading curve (benchmarks/reading_curve.py): accuracy against the tokens a Tiny student read

# The paper's students read BookCorpus and English Wikipedia, 3.3 billion words (its section on pre-training).
PAPER_WORDS = 3.3e9


def reading_frame(rows) -> pd.DataFrame:
    """The reading-curve rows, typed: steps, pretrain_tokens, labels ("all" or a count), epochs, scores, losses."""
    df = results_frame(rows)
    if df.empty or "reading" not in set(df["analysis"]):
        return pd.DataFrame(columns=["size", "method", "seed", "steps", "pretrain_tokens", "labels", "epochs",
                                     "val_acc", "test_acc", "heldout_loss", "unigram_loss", "wall_s"])
    df = df[df["analysis"] == "reading"].copy()
    df["steps"] = df["x"].astype(int)
    variant = df["variant"].fillna("")
    df["labels"] = variant.str.extract(r"labels=(\d+)")[0].fillna("all")
    df["epochs"] = pd.to_numeric(variant.str.extract(r"epochs=([\d.]+)")[0], errors="coerce")
    # Where seed 0 tried several epoch counts, keep the one its validation chose (ties: the fewer), as the other
    # seeds did: one recipe per point.
    chosen = df[df["seed"] == 0].sort_values("epochs").groupby(["labels", "steps"])
    best = {key: g.loc[g["val_acc"].idxmax(), "epochs"] for key, g in chosen if g["epochs"].notna().any()}
    keep = [(lab, st) not in best or ep == best[lab, st] for lab, st, ep in zip(df["labels"], df["steps"], df["epochs"])]
    return df[keep]


def reading_table(rows) -> pd.DataFrame:
    """Per point and label count: tokens read, held-out MLM loss against the unigram model, test accuracy over seeds."""
    df = reading_frame(rows)
    if df.empty:
        return pd.DataFrame()
    table = df.groupby(["labels", "steps"], sort=True).agg(
        tokens=("pretrain_tokens", "first"), seeds=("seed", "nunique"), epochs=("epochs", "first"),
        heldout_loss=("heldout_loss", "first"), unigram_loss=("unigram_loss", "first"),
        test_mean=("test_acc", "mean"), test_sd=("test_acc", "std"), val_mean=("val_acc", "mean")).reset_index()
    return table.sort_values(["labels", "steps"], key=lambda c: c.map(lambda v: (v != "all", v)) if c.name == "labels"
                             else c, ignore_index=True)


def reading_ends(rows, budget: str = ANALYSES_BUDGET) -> pd.DataFrame:
    """Students that read elsewhere, at scale, for the curve's end: PF from MiniLM's layers (same-shape rows)."""
    table = same_shape(rows, budget)
    return table[(table["method"] == PF.name) & (table["pretrained"] == "minilm")].reset_index(drop=True)
