"""The methods as data: each is one declaration (where its weights start, how it trains, what it needs, its label
and colour). Running, estimating, plotting, the results and the command line iterate over METHODS; no other module
compares a method's name. A new method is a stage module and one `register(Method(...))`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from .budget import Budget
from .distill import distill
from .finetune import finetune
from .models import base_teacher, check_init
from .sizes import Size
from .pkd import trained as pkd_trained
from .teacher import check_teacher, soft_labels

# Where a student's weights start. "own", "google" and "minilm" are pre-trained students: they read before training.
STARTS = {
    "none": "random weights (over the student's own vocabulary when it has one)",
    "own": "the learner's own masked-LM pre-training at this budget (offline)",
    "google": "the paper's released miniature of this size, google/bert_uncased_L-{L}_H-{H}_A-{H/64} (hub)",
    "minilm": "the embedded MiniLM teacher's encoder, pre-trained at scale, cut to L layers (H384; offline)",
    "teacher": "the teacher's own encoder as pre-trained (before its fine-tuning), cut to L layers: its width",
}
# The starts a learner picks between for PF and PD.
PRETRAINED = {name: STARTS[name] for name in ("own", "google", "minilm")}


@dataclass(frozen=True)
class Run:
    """What a method's training is handed: the budget, the student, its seed and the weights it starts from."""
    budget: Budget
    size: Size
    seed: int
    init: str                     # "random", a tokenizer folder (random weights over that vocabulary) or a model
    quiet: bool = False
    force: bool = False
    soft_loss: Callable | None = None  # distillation: the function budget.distill.soft_loss names (None: the kit's)


@dataclass(frozen=True)
class Method:
    name: str                     # what run() and the command line take: "pd"
    short: str                    # its name in a table or legend: "PD"
    description: str              # one line for the CLI and the lessons: "pre-train -> distil"
    color: str
    train: Callable[[Run], list]  # Run -> [(stage name, folder)], the last one the finished classifier
    config: Callable[[Budget], object]  # the budget's config of its training stage (epochs, batches: its cost)
    starts: tuple = ("none",)     # the STARTS it accepts, the first its default
    teacher: bool = False         # learns from the teacher's soft labels on the transfer set
    check: Callable[[Budget, Size], None] | None = None  # its own cheap checks, before any stage runs

    @property
    def label(self) -> str:
        return f"{self.short} ({self.description.replace('->', '→')})"

    @property
    def pretrained(self) -> bool:
        """Whether its student reads before it trains (its start is a pre-trained one)."""
        return self.starts[0] != "none"

    @property
    def recipe(self) -> str:
        return "distilled from the teacher" if self.teacher else "fine-tuned on the labels"


METHODS: dict[str, Method] = {}
# Rows of results and plots that are not students' methods but sit beside them.
REFERENCES = {"teacher": ("Teacher", "#d62728")}


def register(method: Method) -> Method:
    """Add a method (or replace one of the same name); every layer sees it from then on."""
    METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {list(METHODS)}")
    return METHODS[name]


def label(name: str) -> str:
    """A method's (or the teacher's) label for a legend; a name the registry does not know is shown as it is."""
    return METHODS[name].label if name in METHODS else REFERENCES.get(name, (name,))[0]


def color(name: str) -> str:
    return METHODS[name].color if name in METHODS else REFERENCES.get(name, (None, "#7f7f7f"))[1]


def distilled() -> set[str]:
    """The methods that learn from the teacher's soft labels."""
    return {m.name for m in METHODS.values() if m.teacher}


# ---------------------------------------------------------------------------------------------------
# How the paper's methods train

def fine_tuned(run: Run) -> list:
    """Fine-tune the student on the task's labels."""
    config = replace(run.budget.finetune, size=run.size.short, seed=run.seed, init=str(run.init))
    return [("finetune", finetune(config, quiet=run.quiet, force=run.force))]


def distilled_from_teacher(run: Run) -> list:
    """Distil the teacher's soft labels on the transfer set into the student; then fine-tune if the budget says so."""
    b = run.budget
    logits = soft_labels(b.teacher, b.logits, quiet=run.quiet)
    config = replace(b.distill, size=run.size.short, seed=run.seed, logits=str(logits), init=str(run.init))
    stages = [("distill", distill(config, soft_loss=run.soft_loss, quiet=run.quiet, force=run.force))]
    if b.finetune_after:
        stages += fine_tuned(replace(run, init=str(stages[-1][1])))
    return stages


def teacher_layers(b: Budget, size: Size) -> int:
    """How many of the teacher's layers the truncated teacher keeps: the budget's, else as many as the student has."""
    from transformers import AutoConfig
    available = AutoConfig.from_pretrained(base_teacher(b.teacher.init)).num_hidden_layers
    return b.truncated.layers or min(size.layers, available)


def truncated_teacher(run: Run) -> list:
    """Fine-tune the teacher's bottom layers on the labels (as deep as the student: about the same cost per layer)."""
    b = run.budget
    config = replace(b.truncated, init=base_teacher(b.teacher.init), layers=teacher_layers(b, run.size),
                     size=run.size.short, seed=run.seed)
    return [("finetune", finetune(config, quiet=run.quiet, force=run.force))]


def check_truncated(b: Budget, size: Size) -> None:
    if b.pretrain.vocab_size is not None:
        raise ValueError("the truncated teacher keeps the teacher's vocabulary: use vocab_size=None")
    check_teacher(b.teacher.init)


def check_start(start: str, b: Budget, size: Size) -> None:
    """The cheap checks of a start: a pre-trained start keeps its own vocabulary; MiniLM has 6 layers; the hub."""
    if start in ("google", "minilm", "teacher") and b.pretrain.vocab_size is not None:
        raise ValueError(f"pretrained={start!r} keeps its own vocabulary: use vocab_size=None")
    if start == "google":
        check_init(size.hub_id)  # cached, or the hub reachable: else a clear error within seconds
    if start == "minilm" and not 1 <= size.layers <= 6:
        raise ValueError(f"pretrained='minilm' keeps L of MiniLM's 6 layers; {size} has {size.layers} (valid: 1..6)")
    if start == "teacher":
        check_teacher(b.teacher.init)


PRETRAINED_STARTS = tuple(PRETRAINED)
register(Method("basic", "Basic", "random init -> fine-tune", "#9e9e9e", fine_tuned, lambda b: b.finetune))
register(Method("pf", "PF", "pre-train -> fine-tune", "#1f77b4", fine_tuned, lambda b: b.finetune, PRETRAINED_STARTS))
register(Method("d", "D", "random init -> distil", "#ff7f0e", distilled_from_teacher, lambda b: b.distill,
                teacher=True))
register(Method("pd", "PD", "pre-train -> distil", "#2ca02c", distilled_from_teacher, lambda b: b.distill,
                PRETRAINED_STARTS, teacher=True))
register(Method("truncated", "Truncated teacher", "teacher's bottom layers -> fine-tune", "#9467bd", truncated_teacher,
                lambda b: b.truncated, ("minilm",), check=check_truncated))

register(Method("pkd", "PKD", "teacher's bottom layers -> distil logits and [CLS] states", "#8c564b", pkd_trained,
                lambda b: b.pkd, ("teacher",), teacher=True))

# The names the analyses compare (findings, results): a rename here is followed everywhere.
BASIC, PF, D, PD, TRUNCATED, PKD = (METHODS[n] for n in ("basic", "pf", "d", "pd", "truncated", "pkd"))
