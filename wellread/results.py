"""The results the kit has measured: the reproduction grid (benchmarks/reproduce.py -> data/results/results.csv)
and notebook 5's own runs parsed into analyses, PF's lead over basic training, their figures, and the
paper's published numbers (data/paper_results.csv) to set beside them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import plots
from .budget import get_budget
from .sizes import VOCAB_SIZE, parse_size

DATA = Path(__file__).resolve().parents[1] / "data"
# The budgets the committed results ran at (budget.BUDGETS says what each is). The main grid (methods x sizes x seeds)
# was re-run when the classroom budget was cut for a 20-minute tour; the analyses and the same-shape study (hours of
# CPU each) ran at the budget before, classroom-v1, and were not: each finding names the budget it read.
GRID_BUDGET = "classroom"
ANALYSES_BUDGET = "classroom-v1"


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
    # "transfer=5000" is the transfer analysis at x=5000; "same_shape,lr=0.0003" the same-shape rows at one rate
    df["analysis"] = first.str.split("=").str[0].where(first.str.contains("="), first.where(first != "", "default"))
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
        budgets = ref["budget"] if "budget" in ref else [ANALYSES_BUDGET] * len(ref)
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


# A single run's test accuracy moves by about this much from the split alone: the binomial standard deviation of an
# accuracy near 0.75 on the embedded task's 1,242 test examples, sqrt(.75 * .25 / 1242).
SPLIT_NOISE = 0.012


def committed_figures(rows, metric: str = "test_acc") -> dict:
    """The README's figures: the methods from the main grid at GRID_BUDGET, each analysis at ANALYSES_BUDGET."""
    df = results_frame(rows)
    if df.empty:
        return {}
    main_grid = df[(df["budget"] == GRID_BUDGET) & df["analysis"].isin(["default", "layers"])]  # methods only
    analyses = results_figures(df[df["budget"] == ANALYSES_BUDGET], metric,
                               source=f"committed grid, {ANALYSES_BUDGET} budget")
    analyses.pop("methods", None)  # that budget's main grid is not the README's
    return {**results_figures(main_grid, metric, source=f"committed grid, {GRID_BUDGET} budget"), **analyses}


def same_shape(rows, budget: str = ANALYSES_BUDGET) -> pd.DataFrame:
    """The same-shape rows (reproduce.py --same-shapes): per shape and method, the rate chosen on seed-0 validation
    and that rate's runs over seeds: pretrained, lr, seeds, test mean and sd, val mean, latency."""
    columns = ["size", "method", "pretrained", "lr", "seeds", "test_acc", "test_sd", "val_acc", "latency_ms", "params"]
    df = results_frame(rows)
    if df.empty or "same_shape" not in set(df["analysis"]):
        return pd.DataFrame(columns=columns)
    df = df[(df["analysis"] == "same_shape") & (df["budget"] == budget)].copy()
    df["lr"] = pd.to_numeric(df["variant"].str.removeprefix("lr="), errors="coerce")
    out = []
    for (size, method), g in df.groupby(["size", "method"], sort=False):
        first = g[g["seed"] == 0].sort_values("lr", kind="stable")  # a tie on validation keeps the smaller rate
        lr = first.loc[first["val_acc"].idxmax(), "lr"] if len(first) else g["lr"].iloc[0]
        runs = g[g["lr"] == lr]
        out.append({"size": size, "method": method, "pretrained": runs.get("pretrained", pd.Series(["?"])).iloc[0],
                    "lr": lr, "seeds": len(runs), "test_acc": runs["test_acc"].mean(),
                    "test_sd": runs["test_acc"].std() if len(runs) > 1 else float("nan"),
                    "val_acc": runs["val_acc"].mean(), "latency_ms": runs["latency_ms"].mean(),
                    "params": runs["params"].iloc[0]})
    return pd.DataFrame(out, columns=columns)


@dataclass
class Comparison:
    """Method `a` against method `b` for one student: means over seeds and whether the gap is more than noise."""
    size: str
    a: str
    b: str
    a_acc: float
    b_acc: float
    seeds: tuple  # (a's, b's)
    noise: float  # two standard errors of the difference (over seeds; the split's noise for a single run)
    within: float | None = None  # set: the question is "is a at most this far below b?" (e.g. near the teacher)
    budget: str = ""  # the budget both ran at

    @property
    def gap(self) -> float:
        return self.a_acc - self.b_acc

    @property
    def shown(self) -> bool:
        """The gap counts when it is positive, at least one point, and more than twice its standard error."""
        if self.within is not None:
            return self.gap >= -self.within
        return self.gap >= max(0.01, self.noise)

    def text(self) -> str:
        if self.within is not None:
            verdict = f"{'within' if self.shown else 'more than'} {100 * self.within:g} point(s) of {self.b}"
        else:
            verdict = "ahead, more than noise" if self.shown else ("behind" if self.gap <= -max(0.01, self.noise)
                                                                 else "within noise")
        return (f"{self.size}: {self.a} {self.a_acc:.3f} vs {self.b} {self.b_acc:.3f} ({100 * self.gap:+.2f} points, "
                f"noise ±{100 * self.noise:.1f}; seeds {self.seeds[0]}/{self.seeds[1]}): {verdict}")


def _compare(size, a, b, within=None, budget="") -> Comparison:
    """Compare two sets of test accuracies (pandas Series over seeds, named by method)."""
    def variance(g):
        return g.var() if len(g) > 1 else SPLIT_NOISE ** 2
    noise = 2 * math.sqrt(variance(a) / len(a) + variance(b) / len(b))
    return Comparison(size, a.name, b.name, float(a.mean()), float(b.mean()), (len(a), len(b)), noise, within, budget)


@dataclass
class Finding:
    """One of the paper's findings: what it found, what the committed grid shows, and why they may differ."""
    key: str
    paper: str
    why: str
    comparisons: list = field(default_factory=list)
    budget: str = ""  # the budget the finding reads (a comparison may name another)

    @property
    def shown(self) -> bool | None:
        """True when every comparison shows the effect, False when none does, None when mixed or not measured."""
        votes = {c.shown for c in self.comparisons}
        return votes.pop() if len(votes) == 1 else None

    def text(self) -> str:
        seen = ("not measured in the committed grid" if not self.comparisons else
                {True: "shown", False: "not shown", None: "shown for some students only"}[self.shown])
        budgets = list(dict.fromkeys(c.budget for c in self.comparisons if c.budget))
        if not budgets and self.budget:
            budgets = [self.budget]  # nothing measured: say where it looked
        source = f" in the committed grid at the {' and '.join(budgets)} budget{'s' * (len(budgets) > 1)}" if budgets else ""
        lines = [f"The paper found: {self.paper}", f"You see{source} ({seen}):"]
        lines += [f"  {c.text()}" + (f" [{c.budget}]" if len(budgets) > 1 else "") for c in self.comparisons]
        lines.append(f"{'Why it shows here' if self.shown else 'Why they differ'}: {self.why}")
        return "\n".join(lines)


PAPER = "Turc et al. 2019, arXiv:1908.08962"


def why_reading(budget) -> str:
    """Why the classroom pre-training cannot show what reading buys, with the budget's own token count."""
    p = budget.pretrain
    tokens = p.steps * p.batch_size * p.block_size / 1e6
    return (f"the paper's students read 3.3 billion words for a million steps; the {budget.name} student reads about "
            f"{tokens:.0f} million tokens (at 6 million it ends only ~0.6 nats below a unigram model): it learns which "
            "words are common, not how sentences work. MiniLM's layers did read at scale, so the same recipe with them "
            "shows what reading buys.")


def _runs(df, size, method, setting="default", name=None):
    """The test accuracies of one student, method and setting over seeds, as a Series named for the comparison."""
    g = df[(df["size"] == size) & (df["method"] == method) & (df["setting"] == setting)]
    return g["test_acc"].rename(name or method)


def _grid_sizes(df) -> list[str]:
    """The students of the main grid (those with basic training), smallest first."""
    basic = df[(df["analysis"] == "default") & (df["method"] == "basic")]
    return sorted(set(basic["size"]), key=lambda s: parse_size(s, off_grid=True).mlm_params)


def _transfer(budget) -> str:
    """The budget's transfer set in words: "20k", or "all" (the gpu and paper budgets use the whole set)."""
    return f"{budget.logits.transfer_examples // 1000}k" if budget.logits.transfer_examples else "all"


def findings(rows, budget: str = GRID_BUDGET, analyses_budget: str = ANALYSES_BUDGET) -> dict[str, Finding]:
    """The paper's findings that the kit can test, each with the committed grid's comparisons (see Comparison): the
    methods compared on the main grid at `budget`, the analyses and same-shape students at `analyses_budget`."""
    df = results_frame(rows)
    if df.empty:
        return {}
    grid, analyses = df[df["budget"] == budget], df[df["budget"] == analyses_budget]
    shapes = same_shape(analyses, analyses_budget)
    chosen = {(r["size"], r["method"]): f"same_shape,lr={r['lr']:g}" for _, r in shapes.iterrows()}

    def classroom(a, b):
        out = []
        for size in _grid_sizes(grid):
            ra, rb = _runs(grid, size, a), _runs(grid, size, b)
            if len(ra) and len(rb):
                out.append(_compare(size, ra, rb, budget=budget))
        return out

    def well_read(a, b):
        out = []
        for size in dict.fromkeys(shapes["size"]):
            if (size, a) in chosen and (size, b) in chosen:
                out.append(_compare(size, _runs(analyses, size, a, chosen[size, a]),
                                    _runs(analyses, size, b, chosen[size, b]), budget=analyses_budget))
        return out

    teacher = analyses.loc[analyses["method"] == "teacher", "test_acc"].rename("teacher")  # the same-shape PD's teacher
    near_teacher = []
    for size in dict.fromkeys(shapes["size"]):
        if (size, "pd") in chosen and len(teacher):
            near_teacher.append(_compare(size, _runs(analyses, size, "pd", chosen[size, "pd"]), teacher, within=0.01,
                                         budget=analyses_budget))

    def settings(method, a: str, b: str, names: tuple):
        """One method at two settings of an analysis (e.g. 40k vs 5k transfer texts) for each size that ran both."""
        out = []
        for size in _grid_sizes(analyses):
            ra = _runs(analyses, size, method, a, f"{method} {names[0]}")
            rb = _runs(analyses, size, method, b, f"{method} {names[1]}")
            if len(ra) and len(rb):
                out.append(_compare(size, ra, rb, budget=analyses_budget))
        return out

    b, ab = get_budget(budget), get_budget(analyses_budget)
    transfer, analyses_transfer = _transfer(b), _transfer(ab)
    found = {
        "transfer_size": Finding("transfer_size", "distillation learns from the texts the teacher labels, and the paper studies how "
                                 "many D and PD need "
                                 f"(its analysis of the unlabeled task data, {PAPER}; its curves are in its figures, "
                                 "not copied here). The question: does more transfer text give the student more to "
                                 "learn from?",
                                 "5,000 texts against the budget's full set, one seed for the smaller set; the "
                                 "teacher labels every text, so the gain is bounded by the teacher's own accuracy.",
                                 [c for m in ("d", "pd") for c in settings(m, "default", "transfer=5000",
                                                                         (analyses_transfer, "5k"))],
                                 analyses_budget),
        "domain": Finding("domain", "the paper also studies how close the transfer text must be to the task (its analysis of "
                          f"the unlabeled task data, {PAPER}): text from the task's own domain carries the task's "
                          "signal best.", "movie text holds opinions about films like the task's reviews; WordNet "
                          "glosses are definitions with no opinions: the teacher's soft labels on them say little "
                          "about sentiment.",
                          [c for m in ("d", "pd") for c in settings(m, "domain=movie", "domain=glosses",
                                                                  ("movie", "glosses"))], analyses_budget),
        "pretraining": Finding("pretraining", f"pre-training still matters for compact models: pre-trained and then "
                               f"fine-tuned (PF), they beat the same models trained from scratch ({PAPER}, abstract; "
                               "its comparisons across the 24 sizes).",
                               why_reading(b),
                               classroom("pf", "basic"), budget),
        "pretraining_well_read": Finding("pretraining_well_read", f"pre-training matters for compact models "
                                         f"({PAPER}, abstract), pre-trained at scale as the paper's were; here the "
                                         "pre-training is MiniLM's: PF from its bottom layers against basic training "
                                         "of the same shape.",
                                         "these students differ only in their start: random, or layers pre-trained "
                                         "(and distilled) at scale by MiniLM's authors; reading at scale is what the "
                                         "classroom pre-training lacks.",
                                         well_read("pf", "basic"), analyses_budget),
        "distillation": Finding("distillation", f"distilling a fine-tuned teacher's soft labels on unlabeled task text "
                                f"(D) helps a compact student trained from scratch; yet a random start keeps it from "
                                f"using the teacher fully ({PAPER}, abstract of v1).",
                                f"distillation needs no reading: it gets the teacher's knowledge through {transfer} "
                                "transfer texts" + (f" ({analyses_transfer} for the same-shape students)"
                                                    if analyses_transfer != transfer else "") +
                                ", so it can show even at the classroom budget when basic training is weak (the "
                                "same-shape students, both from a random start, are compared too).",
                                classroom("d", "basic") + well_read("d", "basic"), budget),
        "pd_classroom": Finding("pd_classroom", f"Pre-trained Distillation (PD) beats distillation from a random start "
                                f"(D); pre-training and distillation have a compound effect, even on the same data "
                                f"({PAPER}, abstract).", why_reading(b), classroom("pd", "d"), budget),
        "pd_well_read": Finding("pd_well_read", f"PD beats D: pre-training and distillation compound ({PAPER}, "
                                "abstract); here the pre-training is MiniLM's, done at scale: PD from its bottom layers "
                                "against D of the same shape.", "the same recipe and the same "
                                "transfer texts; only the start differs: random, or layers that read at scale.",
                                well_read("pd", "d"), analyses_budget),
        "pd_vs_pf": Finding("pd_vs_pf", f"PD brings further improvements over pre-training and fine-tuning (PF) "
                            f"({PAPER}, abstract).", "both start from MiniLM's layers here. PD learns to copy the "
                            f"teacher on {analyses_transfer} unlabeled texts, so the teacher's own accuracy caps it; the "
                            f"teacher is fine-tuned for {ab.teacher.epochs:g} epoch(s), and PF's {ab.finetune.epochs:g} "
                            "epochs on the labels take the same layers about as far.", well_read("pd", "pf"),
                            analyses_budget),
        "pd_near_teacher": Finding("pd_near_teacher", "a pre-trained distilled student can come close to its teacher at "
                                   "a fraction of the cost (the paper's size-reduction and speed-up results).",
                                   "the teacher is MiniLM with all 6 layers fine-tuned on the labels; a student with "
                                   f"fewer of the same layers, distilled on {analyses_transfer} texts, keeps most of what "
                                   "it knows.", near_teacher, analyses_budget),
    }
    return found


RECIPES = {"basic": "fine-tuned on the labels", "pf": "fine-tuned on the labels",
           "d": "distilled from the teacher", "pd": "distilled from the teacher"}


def starts_frame(mine, rows=None, budget: str = ANALYSES_BUDGET) -> pd.DataFrame:
    """Where each student started (none, classroom, minilm, google) and how it was trained, side by side: your runs
    (`mine`, rows of Result.row()) and the committed grid's same-shape rows. One row per (start, size, recipe)."""
    out = []
    df = pd.DataFrame(list(mine) if not isinstance(mine, pd.DataFrame) else mine)
    df = df[df["method"].isin(list(RECIPES))] if len(df) else df
    if len(df):
        start = df["pretrained"] if "pretrained" in df else df["method"].map({"pf": "classroom", "pd": "classroom"})
        for (begin, size, method), g in df.assign(start=start.fillna("none")).groupby(["start", "size", "method"]):
            out.append({"start": begin, "size": size, "recipe": RECIPES[method], "method": method, "source": "your runs",
                        "seeds": len(g), "test_acc": g["test_acc"].mean(),
                        "test_sd": g["test_acc"].std() if len(g) > 1 else float("nan")})
    if rows is not None:
        for _, r in same_shape(rows, budget).iterrows():
            out.append({"start": r["pretrained"], "size": r["size"], "recipe": RECIPES[r["method"]], "method": r["method"],
                        "source": "committed grid", "lr": r["lr"], "seeds": r["seeds"], "test_acc": r["test_acc"],
                        "test_sd": r["test_sd"]})
    order = {"none": 0, "classroom": 1, "minilm": 2, "google": 3}
    frame = pd.DataFrame(out, columns=["start", "size", "recipe", "method", "source", "lr", "seeds", "test_acc", "test_sd"])
    frame["_first"] = (frame["source"] != "your runs").astype(int)  # your runs, then the grid's
    frame["_start"] = frame["start"].map(order).fillna(len(order))
    return frame.sort_values(["_first", "size", "_start", "recipe"], ignore_index=True).drop(columns=["_first", "_start"])
