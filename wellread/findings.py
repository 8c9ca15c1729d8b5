"""The paper's findings the kit can test, each set beside what the committed grid shows and why the two may differ:
comparisons of two methods over seeds, counted only when the gap is more than noise."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .budget import get_budget
from .methods import BASIC, D, PD, PF, distilled
from .results import (ANALYSES_BUDGET, GRID_BUDGET, PAPER_WORDS, grid_name, reading_frame, results_frame, same_shape,
                      teacher_words)
from .sizes import parse_size

# A single run's test accuracy moves by about this much from the split alone: the binomial standard deviation of an
# accuracy near 0.75 on the embedded task's 1,242 test examples, sqrt(.75 * .25 / 1242).
SPLIT_NOISE = 0.012



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


def compare(size, a, b, within=None, budget="") -> Comparison:
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
        source = f" in {' and '.join(grid_name(b) for b in budgets)}" if budgets else ""
        lines = [f"The paper found: {self.paper}", f"You see{source} ({seen}):"]
        lines += [f"  {c.text()}" + (f" [{grid_name(c.budget)}]" if len(budgets) > 1 else "") for c in self.comparisons]
        lines.append(f"{'Why it shows here' if self.shown else 'Why they differ'}: {self.why}")
        return "\n".join(lines)


PAPER = "Turc et al. 2019, arXiv:1908.08962"


def why_reading(budget) -> str:
    """Why the classroom pre-training cannot show what reading buys, with the budget's own token count."""
    p = budget.pretrain
    tokens = p.steps * p.batch_size * p.block_size / 1e6
    return (f"the paper's students read 3.3 billion words for a million steps; a student of {grid_name(budget.name)} reads about "
            f"{tokens:.0f} million tokens (at 6 million it ends only ~0.6 nats below a unigram model): it learns which "
            "words are common, not how sentences work. MiniLM's layers did read at scale, so the same recipe with them "
            "shows what reading buys.")


def _runs(df, size, method, setting="default", name=None):
    """The test accuracies of one student, method and setting over seeds, as a Series named for the comparison."""
    g = df[(df["size"] == size) & (df["method"] == method) & (df["setting"] == setting)]
    return g["test_acc"].rename(name or method)


def _grid_sizes(df) -> list[str]:
    """The students of the main grid (those with basic training), smallest first."""
    basic = df[(df["analysis"] == "default") & (df["method"] == BASIC.name)]
    return sorted(set(basic["size"]), key=lambda s: parse_size(s, off_grid=True).mlm_params)


def _teachers(df) -> str:
    """The teachers with rows in `df`, in words with their test accuracy."""
    rows = df[df["method"] == "teacher"]
    out = [f"{teacher_words(name)}, test {acc:.3f}" for name, acc in zip(rows["teacher"], rows["test_acc"]) if name]
    return "; ".join(out) or "none recorded"


def _transfer(budget) -> str:
    """The budget's transfer set in words: "20k", or "all" (the gpu and paper budgets use the whole set)."""
    return f"{budget.logits.transfer_examples // 1000}k" if budget.logits.transfer_examples else "all"


def findings(rows, budget: str = GRID_BUDGET, analyses_budget: str = ANALYSES_BUDGET) -> dict[str, Finding]:
    """The paper's findings that the kit can test, each with the committed grid's comparisons (see Comparison): the
    methods compared on the main grid at `budget`, the analyses and same-shape students at `analyses_budget`."""
    df = results_frame(rows)
    if df.empty:
        return {}
    df["teacher"] = df["teacher"].fillna("").astype(str) if "teacher" in df else ""
    grid, analyses = df[df["budget"] == budget], df[df["budget"] == analyses_budget]
    shapes = same_shape(analyses, analyses_budget)
    chosen = {(r["size"], r["method"] + (f"+{r['then']}" if r["then"] else ""), r["teacher"]):
              f"same_shape,lr={r['lr']:g}" + (f",{r['then']}" if r["then"] else "") for _, r in shapes.iterrows()}

    def classroom(a, b):
        out = []
        for size in _grid_sizes(grid):
            ra, rb = _runs(grid, size, a), _runs(grid, size, b)
            if len(ra) and len(rb):
                out.append(compare(size, ra, rb, budget=budget))
        return out

    def same(size, method, teacher=""):
        """One same-shape student at its chosen rate (a variant after "+": "pd+finetune_after", PD then fine-tuned);
        D and PD with the teacher that labelled their transfer set."""
        base = method.split("+")[0]
        teacher = teacher if base in distilled() else ""
        if (size, method, teacher) not in chosen:
            return analyses["test_acc"].iloc[:0].rename(method)
        return _runs(analyses[analyses["teacher"] == teacher], size, base, chosen[size, method, teacher], method)

    def teachers(size, methods) -> list[str]:
        """The teachers whose D/PD rows a comparison of `methods` at `size` reads ("" when none is distilled)."""
        named = [t for t in dict.fromkeys(shapes.loc[shapes["size"] == size, "teacher"]) if t]
        return named if {m.split("+")[0] for m in methods} & distilled() and named else [""]

    def named(size, teacher):
        return f"{size}, teacher {teacher_words(teacher)}" if teacher else size

    def well_read(a, b):
        out = []
        for size in dict.fromkeys(shapes["size"]):
            for t in teachers(size, (a, b)):
                ra, rb = same(size, a, t), same(size, b, t)
                if len(ra) and len(rb):
                    out.append(compare(named(size, t), ra, rb, budget=analyses_budget))
        return out

    near_teacher = []
    for size in dict.fromkeys(shapes["size"]):
        for t in teachers(size, (PD.name,)):
            teacher = analyses.loc[(analyses["method"] == "teacher") & (analyses["teacher"] == t),
                                   "test_acc"].rename("teacher")
            pd_runs = same(size, PD.name, t)
            if len(pd_runs) and len(teacher):
                near_teacher.append(compare(named(size, t), pd_runs, teacher, within=0.01, budget=analyses_budget))

    def settings(method, a: str, b: str, names: tuple):
        """One method at two settings of an analysis (e.g. 40k vs 5k transfer texts) for each size that ran both."""
        out = []
        for size in _grid_sizes(analyses):
            ra = _runs(analyses, size, method, a, f"{method} {names[0]}")
            rb = _runs(analyses, size, method, b, f"{method} {names[1]}")
            if len(ra) and len(rb):
                out.append(compare(size, ra, rb, budget=analyses_budget))
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
                                 [c for m in (D.name, PD.name) for c in settings(m, "default", "transfer_size=5000",
                                                                         (analyses_transfer, "5k"))],
                                 analyses_budget),
        "domain": Finding("domain", "the paper also studies how close the transfer text must be to the task (its analysis of "
                          f"the unlabeled task data, {PAPER}): text from the task's own domain carries the task's "
                          "signal best.", "movie text holds opinions about films like the task's reviews; WordNet "
                          "glosses are definitions with no opinions: the teacher's soft labels on them say little "
                          "about sentiment.",
                          [c for m in (D.name, PD.name) for c in settings(m, "domain=movie", "domain=glosses",
                                                                  ("movie", "glosses"))], analyses_budget),
        "pretraining": Finding("pretraining", f"pre-training still matters for compact models: pre-trained and then "
                               f"fine-tuned (PF), they beat the same models trained from scratch ({PAPER}, abstract; "
                               "its comparisons across the 24 sizes).",
                               why_reading(b),
                               classroom(PF.name, BASIC.name), budget),
        "pretraining_well_read": Finding("pretraining_well_read", f"pre-training matters for compact models "
                                         f"({PAPER}, abstract), pre-trained at scale as the paper's were; here the "
                                         "pre-training is MiniLM's: PF from its bottom layers against basic training "
                                         "of the same shape.",
                                         "these students differ only in their start: random, or layers pre-trained "
                                         "(and distilled) at scale by MiniLM's authors; reading at scale is what the "
                                         "classroom pre-training lacks.",
                                         well_read(PF.name, BASIC.name), analyses_budget),
        "distillation": Finding("distillation", f"distilling a fine-tuned teacher's soft labels on unlabeled task text "
                                f"(D) helps a compact student trained from scratch; yet a random start keeps it from "
                                f"using the teacher fully ({PAPER}, abstract of v1).",
                                f"distillation needs no reading: it gets the teacher's knowledge through {transfer} "
                                "transfer texts" + (f" ({analyses_transfer} for the same-shape students)"
                                                    if analyses_transfer != transfer else "") +
                                ", so it can show even at the classroom budget when basic training is weak (the "
                                "same-shape students, both from a random start, are compared too).",
                                classroom(D.name, BASIC.name) + well_read(D.name, BASIC.name), budget),
        "pd_classroom": Finding("pd_classroom", f"Pre-trained Distillation (PD) beats distillation from a random start "
                                f"(D); pre-training and distillation have a compound effect, even on the same data "
                                f"({PAPER}, abstract).", why_reading(b), classroom(PD.name, D.name), budget),
        "pd_well_read": Finding("pd_well_read", f"PD beats D: pre-training and distillation compound ({PAPER}, "
                                "abstract); here the pre-training is MiniLM's, done at scale: PD from its bottom layers "
                                "against D of the same shape.", "the same recipe and the same "
                                "transfer texts; only the start differs: random, or layers that read at scale.",
                                well_read(PD.name, D.name), analyses_budget),
        "pd_vs_pf": Finding("pd_vs_pf", f"PD brings further improvements over pre-training and fine-tuning (PF) "
                            f"({PAPER}, abstract).", "both start from MiniLM's layers here. PD learns to copy the "
                            f"teacher on {analyses_transfer} unlabeled texts, so the teacher's own accuracy caps it; PF "
                            f"learns from the labels for {ab.finetune.epochs:g} epochs. The teachers: "
                            f"{_teachers(analyses)}. PD can pass PF only with a teacher well above what PF reaches.",
                            [c for then in ("", *sorted(set(shapes.loc[shapes["method"] == PD.name, "then"]) - {""}))
                             for c in well_read(f"{PD.name}+{then}" if then else PD.name, PF.name)], analyses_budget),
        "pd_near_teacher": Finding("pd_near_teacher", "a pre-trained distilled student can come close to its teacher at "
                                   "a fraction of the cost (the paper's size-reduction and speed-up results).",
                                   f"the teachers: {_teachers(analyses)}. A student with fewer layers, distilled on "
                                   f"{analyses_transfer} texts, copies the teacher only as far as its own size and start "
                                   "allow.", near_teacher, analyses_budget),
    }
    found["reading"] = reading_finding(df, budget)
    return found


def reading_finding(df, budget: str = GRID_BUDGET) -> Finding:
    """The reading curve: PF from the longest-read Tiny student against a random start and against the least-read
    point, with all labels and with 1,000; the why says how far its masked-LM loss fell below a unigram model's."""
    curve = reading_frame(df[df["budget"] == budget]) if len(df) else reading_frame(df)
    comparisons, why = [], "no reading-curve rows at this budget yet (benchmarks/reading_curve.py writes them)."
    if len(curve) and curve["steps"].max() > 0:
        longest, least = curve["steps"].max(), curve.loc[curve["steps"] > 0, "steps"].min()
        tokens = curve.groupby("steps")["pretrain_tokens"].first()
        for labels in ("all", "1000"):
            part = curve[curve["labels"] == labels]
            name = f"L2/H128, {'all' if labels == 'all' else '1,000'} labels"
            read = part[part["steps"] == longest]["test_acc"].rename(f"read {tokens[longest] / 1e6:.0f}M tokens")
            for other, label in ((0, "random start"), (least, f"read {tokens[least] / 1e6:.0f}M tokens")):
                base = part[part["steps"] == other]["test_acc"].rename(label)
                if len(read) and len(base) and other != longest:
                    comparisons.append(compare(name, read, base, budget=budget))
        losses = curve[curve["steps"] > 0].groupby("steps")[["heldout_loss", "unigram_loss"]].first()
        below = losses["unigram_loss"] - losses["heldout_loss"]
        why = (f"the masked-LM loss on held-out text kept falling as the student read more: {below[least]:.2f} nats "
               f"below a unigram model's after {tokens[least] / 1e6:.0f}M tokens (it knows which words are common), "
               f"{below[longest]:.2f} below after {tokens[longest] / 1e6:.0f}M (it predicts words from their "
               "context). What it learned is the kit's corpus, a few million tokens of glosses, encyclopedia, "
               "speeches and news read over and over; the paper's students read 3.3 billion words of books and "
               f"Wikipedia, about {PAPER_WORDS / tokens[longest]:.0f} times as many tokens and far more distinct text.")
    return Finding("reading", f"pre-training matters for compact models ({PAPER}, abstract); its students read 3.3 "
                   "billion words (BookCorpus and English Wikipedia) before any fine-tuning.", why, comparisons, budget)
