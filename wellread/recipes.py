"""The paper's methods side by side: basic, PF, D, PD and the truncated teacher, one call each.

A recipe resolves the budget once, checks everything cheap (names, values, the hub when asked for) before
any stage runs, then derives each stage's config from the budget's with `dataclasses.replace`."""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from transformers import AutoConfig

from . import cache, data, estimate
from .budget import Budget, get_budget, with_task
from .distill import distill
from .device import cpu_flags, resolve, slow_precision
from .finetune import check_init, finetune
from .pretrain import pretrain
from .vocab import wordpiece_dir
from .sizes import parse_size
from .teacher import (base_teacher, check_teacher, labelled_inputs, logits_built, teacher_label, teacher_logits,
                      teacher_path, train_teacher, truncated_encoder)

METHODS = {
    "basic": "random init -> fine-tune",
    "pf": "pre-train -> fine-tune",
    "d": "random init -> distil",
    "pd": "pre-train -> distil",
    "truncated": "teacher's bottom layers -> fine-tune",
}
# Where a pre-trained student (PF, PD) comes from; basic training and D start from random weights ("none").
PRETRAINED = {
    "own": "the learner's own masked-LM pre-training at this budget (offline)",
    "google": "the paper's released miniature of this size, google/bert_uncased_L-{L}_H-{H}_A-{H/64} (hub)",
    "minilm": "the embedded MiniLM teacher's encoder, pre-trained at scale, cut to L layers (H384; offline)",
}


@dataclass
class Result:
    method: str
    size: str
    seed: int
    budget: str
    task: str
    pretrained: str               # "none" (random init) or one of PRETRAINED
    val_acc: float
    test_acc: float
    val_f1: float
    test_f1: float
    params: int
    latency_ms: float
    wall_s: float                 # the student's own stages (pre-training included), cached or not
    path: str                     # the final model folder
    precision: str = ""           # what the student's stages ran with
    teacher: str = ""             # who labelled the transfer set (D, PD), see teacher_name
    soft_loss: str = ""           # D, PD: whose soft loss trained the student ("the kit's" or "the learner's")
    trained_on: int = 0           # the examples its last stage trained on: labeled texts, or transfer texts for D, PD
    pretrain_tokens: int | None = None  # tokens read in the kit's own pre-training: 0 from random, None: read elsewhere
    heldout_loss: float | None = None   # its masked-LM loss on held-out text (nats), and a unigram model's
    unigram_loss: float | None = None
    curves: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The flat part of the record, for a table."""
        return {k: v for k, v in asdict(self).items() if k not in ("curves", "config")}

    def record(self, setting: str = "default") -> dict:
        """The row for the committed results file: the run, the setting it varies, and where and how it ran."""
        return {**self.row(), "setting": setting, **cache.provenance(), "cpu_flags": " ".join(cpu_flags())}


def teacher_name(b: Budget) -> str:
    """The teacher in a few words: which encoder, fine-tuned how many epochs ("minilm-l6-1ep", "mpnet-base-3ep")."""
    return f"{teacher_label(b.teacher.init)}-{b.teacher.epochs:g}ep"


# Fields a recipe sets itself, from run()'s own arguments or from another stage: an override would be ignored.
RECIPE_FIELDS = {"pretrain__size": "run()'s size", "finetune__size": "run()'s size", "finetune__seed": "run()'s seed",
                 "finetune__init": "run()'s pretrained", "truncated__size": "run()'s size",
                 "truncated__seed": "run()'s seed", "truncated__init": "teacher__init", "distill__size": "run()'s size",
                 "distill__seed": "run()'s seed", "distill__init": "run()'s pretrained",
                 "distill__logits": "the teacher's logits stage", "logits__teacher": "teacher__init"}
# The start each method takes when run() is not told otherwise.
DEFAULT_START = {"pf": "own", "pd": "own", "truncated": "minilm"}


def resolve_budget(budget: str | Budget = "classroom", task=None, **overrides) -> Budget:
    """The budget a recipe runs with: a preset (or Budget), the task if given, and overrides of its fields."""
    owned = sorted(set(overrides) & set(RECIPE_FIELDS))
    if owned:
        raise ValueError(", ".join(f"{name} is set from {RECIPE_FIELDS[name]}" for name in owned)
                         + ": set that instead")
    b = get_budget(budget, **overrides)
    return with_task(b, task) if task is not None else b


def pretrained_student(size="tiny", budget: str | Budget = "classroom", *, force=False, quiet=False, on_eval=None,
                       **overrides) -> Path:
    """The masked-LM pre-trained student of this size (one per size and budget: seed 0)."""
    b = resolve_budget(budget, **overrides)
    return pretrain(replace(b.pretrain, size=parse_size(size).short), force=force, quiet=quiet, on_eval=on_eval)


def teacher(budget: str | Budget = "classroom", *, force=False, quiet=False, **overrides) -> Path:
    """The fine-tuned teacher (seed 0, shared by every student and seed)."""
    return train_teacher(resolve_budget(budget, **overrides).teacher, force=force, quiet=quiet)


def teacher_result(budget: str | Budget = "classroom", *, quiet=False, **overrides) -> Result:
    """The teacher's record, like a student's: its accuracy, latency and size beside theirs."""
    b = resolve_budget(budget, **overrides)
    return _result("teacher", b.teacher.seed, b, "minilm" if b.teacher.init == "embedded" else b.teacher.init,
                   [("finetune", train_teacher(b.teacher, quiet=quiet))])


def transfer_set(budget: str | Budget = "classroom", *, force=False, quiet=False, **overrides) -> Path:
    """The teacher's logits over the budget's transfer set (plus the task's training inputs)."""
    return _logits(resolve_budget(budget, **overrides), force=force, quiet=quiet)


def _logits_config(b: Budget):
    """The logits stage's config, naming the teacher's folder whether or not the teacher is here."""
    return replace(b.logits, teacher=str(teacher_path(b.teacher)))


def _logits(b: Budget, *, force=False, quiet=False) -> Path:
    config = _logits_config(b)
    if force or not logits_built(config):  # the teacher only labels: soft labels already made (a pack) need none of it
        config = replace(config, teacher=str(train_teacher(b.teacher, quiet=quiet)))
    return teacher_logits(config, force=force, quiet=quiet)


def _student_init(b: Budget, size, pretrained: str, quiet: bool) -> tuple[str, Path | None]:
    """(init, the pre-training stage's folder or None) for a PF or PD student."""
    if pretrained == "google":
        return size.hub_id, None
    if pretrained == "minilm":
        return str(truncated_encoder(size.layers)), None
    folder = pretrain(replace(b.pretrain, size=size.short), quiet=quiet)
    return str(folder), folder


def preflight(method: str, b: Budget, seed, size, pretrained: str) -> None:
    """Every cheap check a run needs, before any stage starts: names, values and, when asked for, the hub."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {list(METHODS)}")
    if method in ("pf", "pd") and pretrained not in PRETRAINED:
        raise ValueError(f"pretrained={pretrained!r} for {method}; valid: {list(PRETRAINED)}")
    if method in ("basic", "d") and pretrained != "none" or method == "truncated" and pretrained != "minilm":
        raise ValueError(f"{method} starts from {'the teacher' if method == 'truncated' else 'random weights'}: "
                         f"pretrained={pretrained!r} applies to pf and pd only")
    vocab_size = b.pretrain.vocab_size
    if pretrained in ("google", "minilm") and vocab_size is not None:
        raise ValueError(f"pretrained={pretrained!r} keeps its own vocabulary: use vocab_size=None")
    if pretrained == "google":
        check_init(size.hub_id)  # cached, or the hub reachable: else a clear error within seconds
    if pretrained == "minilm" and not 1 <= size.layers <= 6:
        raise ValueError(f"pretrained='minilm' keeps L of MiniLM's 6 layers; {size} has {size.layers} (valid: 1..6)")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}: use an integer >= 0")
    if method == "truncated" and vocab_size is not None:
        raise ValueError("the truncated teacher keeps the teacher's vocabulary: use vocab_size=None")
    if method == "truncated":
        check_teacher(b.teacher.init)
    if b.task.source == "hub":
        data.require_hub(f"the task {b.task.name!r}")
    where = b.task.train if b.task.source == "files" else f"the task {b.task.name!r}"
    names = b.task.label_names
    for split, rows in zip(("train", "validation", "test"), b.task.splits(seed)):
        if len(rows) < b.finetune.batch_size:
            raise ValueError(f"{where}: the {split} split has {len(rows)} rows, fewer than one batch "
                             f"({b.finetune.batch_size}); add rows, or lower finetune__batch_size and distill__batch_size")
        absent = [names[i] for i in sorted(set(range(len(names))) - set(rows["label"]))]
        if absent and b.task.source == "files":  # the files themselves were checked: the budget's subsample lost it
            field = "task__train_examples" if split == "train" else "task__eval_examples"
            raise ValueError(f"{where}: at the {b.name!r} budget the {split} split keeps {len(rows)} rows ({field}) and "
                             f"no example of class(es) {absent[:5]}; raise {field} (None: all rows)")
    if b.task.source == "files":
        data.show_class_table(b.task, seed)
    if method in ("pf", "pd") and b.pretrain.source == "hub":
        data.check_corpus(b.pretrain.corpus, "hub")
    if method in ("d", "pd") and not logits_built(_logits_config(b)):  # soft labels from a pack need no teacher
        check_teacher(b.teacher.init)
    transfer = b.logits.transfer
    if method in ("d", "pd") and transfer not in (None, "none") and not data.is_transfer_file(transfer):
        data.check_transfer(transfer, "hub" if b.task.source == "hub" else "embedded")
        if b.task.pairs:
            raise ValueError(f"{b.task.name!r} is a sentence-pair task: the transfer text {transfer!r} has single "
                             "texts; use transfer='none' (the task's own training pairs) or a file of pairs")
    if method in ("d", "pd") and transfer not in (None, "none") and data.is_transfer_file(transfer):
        data.transfer_inputs(transfer, b.task, 1)  # an empty, blank or wholly held-out file is refused here
    # Legal but costly choices are named before they cost.
    slow = slow_precision(b.precision)
    if slow:
        warnings.warn(slow, stacklevel=3)
    if method in ("pf", "pd") and pretrained == "minilm" and size.hidden != 384:  # truncated is H384 by definition
        wide = parse_size((size.layers, 384), off_grid=True)
        warnings.warn(f"pretrained='minilm' keeps MiniLM's width: this trains {wide.short} "
                      f"({wide.mlm_params / 1e6:.1f}M parameters), not {size.name} ({size.short}, "
                      f"{size.mlm_params / 1e6:.1f}M): a different student; for {size.short} itself use "
                      "pretrained='own' or 'google'", stacklevel=3)


def run(method: str, size="tiny", budget: str | Budget = "classroom", seed: int = 0, *, task=None,
        pretrained: str | None = None, quiet=False, force=False, **overrides) -> Result:
    """Run one of METHODS for one student size and seed; every stage is cached.

    `overrides` are the budget's fields, the only way to change a setting: `distill__temperature=2` (or its short
    name `temperature=2`, see budget.ALIASES), `logits__transfer="glosses"`, `pretrain__vocab_size=8192`, ...
    `task`: a data.Task, a hub task name ("glue/sst2") or your own file (see data.Task.parse); the task says which
    data, the budget how much of it. `pretrained` (PF and PD): where the pre-trained student comes from, one of
    PRETRAINED (default "own"). `force` rebuilds this run's fine-tuning or distillation (the shared
    pre-trained student and teacher are kept)."""
    b = resolve_budget(budget, task, **overrides)
    size = parse_size(size)
    pretrained = pretrained or DEFAULT_START.get(method, "none")
    preflight(method, b, seed, size, pretrained)
    too_big = estimate.warning(size, method, b, pretrained)
    if too_big:
        warnings.warn(too_big, stacklevel=2)
    stages = []  # (name, folder) of the student's own stages, for wall time and curves

    # random weights (over the student's own vocabulary when it has one), or a pre-trained student
    vocab = b.pretrain.vocab_size
    init = "random" if vocab is None else wordpiece_dir(b.pretrain.corpus, vocab)
    if method in ("pf", "pd"):
        init, pretraining = _student_init(b, size, pretrained, quiet)
        if pretraining is not None:
            stages.append(("pretrain", pretraining))
    tune = replace(b.finetune, size=size.short, seed=seed)
    if method in ("basic", "pf"):
        stages.append(("finetune", finetune(replace(tune, init=str(init)), quiet=quiet, force=force)))
    elif method == "truncated":  # as deep as the student, unless told: the two then cost about the same per layer
        base = base_teacher(b.teacher.init)
        layers = b.truncated.layers or min(size.layers, AutoConfig.from_pretrained(base).num_hidden_layers)
        config = replace(b.truncated, init=base, layers=layers, size=size.short, seed=seed)
        stages.append(("finetune", finetune(config, quiet=quiet, force=force)))
    else:
        distil = replace(b.distill, size=size.short, seed=seed, logits=str(_logits(b, quiet=quiet)), init=str(init))
        stages.append(("distill", distill(distil, quiet=quiet, force=force)))
        if b.finetune_after:
            stages.append(("finetune", finetune(replace(tune, init=str(stages[-1][1])), quiet=quiet, force=force)))
    return _result(method, seed, b, pretrained, stages)


def _result(method: str, seed: int, b: Budget, pretrained: str, stages: list) -> Result:
    """The run's record, from what its stages recorded (the classifier stages time the model they trained)."""
    final = stages[-1][1]
    records = {name: cache.metrics(folder) for name, folder in stages}  # each stage's metrics.json, read once
    scores, read, distilled = records[stages[-1][0]], records.get("pretrain", {}), records.get("distill", {})
    shape = cache.read_json(final / "config.json")
    return Result(method=method, size=f"L{shape['num_hidden_layers']}/H{shape['hidden_size']}", seed=seed,
                  budget=b.name, task=b.task.name, pretrained=pretrained, val_acc=scores["val_acc"],
                  test_acc=scores["test_acc"], val_f1=scores["val_f1"], test_f1=scores["test_f1"],
                  trained_on=scores.get("transfer_examples") or scores.get("train_examples") or 0,
                  params=scores["params"], latency_ms=scores.get("latency_ms", float("nan")), precision=resolve(b.precision),
                  teacher=teacher_name(b) if method in ("d", "pd", "teacher") else "",
                  pretrain_tokens=read.get("tokens_seen") if "pretrain" in records else 0 if pretrained == "none" else None,
                  heldout_loss=read.get("heldout_loss"), unigram_loss=read.get("unigram_entropy"),
                  soft_loss=distilled.get("soft_loss", ""),
                  wall_s=sum(r.get("wall_s", 0) for r in records.values()), path=str(final),
                  curves={name: r.get("curve", []) for name, r in records.items()},
                  config={"budget": asdict(b), "stages": [str(p) for _, p in stages]})


def well_read(size="tiny", budget: str | Budget = "classroom", seed: int = 0, *, labels: int = 1000,
              examples: int = 4000, transfer: str | None = "none", quiet=False) -> list[Result]:
    """The student's depth at MiniLM's width (L{layers}/H384, at most 6 layers) from a random start and from MiniLM's
    layers (a start that read at scale), each run trained on about `examples` examples: basic and PF on `labels` labels
    (examples / labels epochs), D and PD on that many of the texts the teacher labelled (`transfer` "none": the task's
    own training inputs, labelled for notebook 2's transfer set; None: the budget's transfer set). Each batch runs in two
    halves: at MiniLM's width Mini's runs otherwise take notebook 4 over 1.5 GB."""
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
        raise ValueError(f"examples={examples!r}: use a positive integer (the examples each run trains on)")
    b = get_budget(budget) if isinstance(budget, str) else budget
    shape = parse_size(f"L{min(parse_size(size).layers, 6)}/H384", off_grid=True)
    labelled, train_split = labelled_inputs(b.logits if transfer is None else replace(b.logits, transfer=transfer))
    texts = len(labelled) + (len(train_split) if train_split is not None else 0)
    few = {"task__train_examples": labels, "finetune__epochs": examples / labels,
           "finetune__gradient_accumulation_steps": 2}
    distil = {"distill__epochs": min(1.0, examples / texts), "distill__gradient_accumulation_steps": 2,
              **({"transfer": transfer} if transfer is not None else {})}
    return [run("basic", shape, b, seed, quiet=quiet, **few),
            run("pf", shape, b, seed, pretrained="minilm", quiet=quiet, **few),
            run("d", shape, b, seed, quiet=quiet, **distil),
            run("pd", shape, b, seed, pretrained="minilm", quiet=quiet, **distil)]


def compare(size="tiny", methods=tuple(METHODS), budget: str | Budget = "classroom", seeds=(0,), quiet=False,
            **kwargs):
    """Every method x seed for one size: a pandas DataFrame (one row per run) and the Result records."""
    import pandas as pd
    results = [run(m, size, budget, seed, quiet=quiet, **kwargs) for m in methods for seed in seeds]
    return pd.DataFrame([r.row() for r in results]), results
