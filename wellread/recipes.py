"""The paper's methods side by side: basic, PF, D, PD and the truncated teacher, one call each.

A recipe resolves the budget once, checks everything cheap (names, values, the hub when asked for) before
any stage runs, then derives each stage's config from the budget's with `dataclasses.replace`."""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import cache, data, estimate
from .budget import Budget, get_budget, with_task
from .distill import distill
from .finetune import build_classifier, check_init, finetune
from .pretrain import pretrain, wordpiece_dir
from .sizes import parse_size
from .speed import latency_ms
from .teacher import base_teacher, teacher_logits, train_teacher, truncated_encoder

METHODS = {
    "basic": "random init -> fine-tune",
    "pf": "pre-train -> fine-tune",
    "d": "random init -> distil",
    "pd": "pre-train -> distil",
    "truncated": "teacher's bottom layers -> fine-tune",
}
# Where a pre-trained student (PF, PD) comes from; basic training and D start from random weights ("none").
PRETRAINED = {
    "classroom": "the learner's own masked-LM pre-training at this budget (offline)",
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
    precision: str = ""           # what the student's last stage ran with
    curves: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The flat part of the record, for a table."""
        return {k: v for k, v in asdict(self).items() if k not in ("curves", "config")}


def pretrained_student(size="tiny", budget: str | Budget = "classroom", *, corpus=None, vocab_size=None,
                       force=False, quiet=False, on_eval=None) -> Path:
    """The masked-LM pre-trained student of this size (one per size and budget: seed 0)."""
    return _pretrained(get_budget(budget), parse_size(size), corpus, vocab_size, force=force, quiet=quiet,
                       on_eval=on_eval)


def teacher(budget: str | Budget = "classroom", *, model="embedded", force=False, quiet=False) -> Path:
    """The fine-tuned teacher (seed 0, shared by every student and seed)."""
    return train_teacher(get_budget(budget).teacher, model, force=force, quiet=quiet)


def default_transfer(b: Budget) -> str:
    """The embedded movie text for a task of single texts; for sentence pairs, only the task's own inputs."""
    return "none" if b.task.pairs else "movie"


def transfer_set(budget: str | Budget = "classroom", *, transfer=None, transfer_examples=None,
                 include_train=True, teacher_path=None, teacher_model="embedded", force=False, quiet=False) -> Path:
    """The teacher's logits over the transfer set (plus the task's training inputs)."""
    b = get_budget(budget)
    return _logits(b, transfer or default_transfer(b), transfer_examples, include_train, teacher_path, teacher_model,
                   force=force, quiet=quiet)


def _pretrained(b: Budget, size, corpus, vocab_size, **kwargs) -> Path:
    return pretrain(replace(b.pretrain, size=size.short, corpus=corpus or b.pretrain.corpus, vocab_size=vocab_size),
                    **kwargs)


def _logits(b: Budget, transfer, transfer_examples, include_train, teacher_path=None, teacher_model="embedded", *,
            force=False, quiet=False):
    n = transfer_examples if transfer_examples is not None else b.logits.transfer_examples
    config = replace(b.logits, transfer=transfer, transfer_examples=n, include_train=include_train)
    # the config first: a bad name or number fails before the teacher trains
    teacher_path = teacher_path or train_teacher(b.teacher, teacher_model, quiet=quiet)
    return teacher_logits(replace(config, teacher=str(teacher_path)), force=force, quiet=quiet)


def _student_init(b: Budget, size, pretrained: str, corpus, vocab_size, quiet: bool) -> tuple[str, Path | None]:
    """(init, the pre-training stage's folder or None) for a PF or PD student."""
    if pretrained == "google":
        return size.hub_id, None
    if pretrained == "minilm":
        return str(truncated_encoder(size.layers)), None
    folder = _pretrained(b, size, corpus, vocab_size, quiet=quiet)
    return str(folder), folder


def preflight(method: str, b: Budget, seed, *, layers: int, transfer: str, corpus: str, vocab_size,
              pretrained: str = "none", size=None) -> None:
    """Every cheap check a run needs, before any stage starts: names, values and, when asked for, the hub."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {list(METHODS)}")
    if method in ("pf", "pd") and pretrained not in PRETRAINED:
        raise ValueError(f"pretrained={pretrained!r} for {method}; valid: {list(PRETRAINED)}")
    if method in ("basic", "d") and pretrained != "none" or method == "truncated" and pretrained != "minilm":
        raise ValueError(f"{method} starts from {'the teacher' if method == 'truncated' else 'random weights'}: "
                         f"pretrained={pretrained!r} applies to pf and pd only")
    if pretrained in ("google", "minilm") and vocab_size is not None:
        raise ValueError(f"pretrained={pretrained!r} keeps its own vocabulary: use vocab_size=None")
    if pretrained == "google":
        check_init(size.hub_id)  # cached, or the hub reachable: else a clear error within seconds
    if pretrained == "minilm" and not 1 <= size.layers <= 6:
        raise ValueError(f"pretrained='minilm' keeps L of MiniLM's 6 layers; {size} has {size.layers} (valid: 1..6)")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}: use an integer >= 0")
    if method == "truncated":
        if vocab_size is not None:
            raise ValueError("the truncated teacher keeps the teacher's vocabulary: use vocab_size=None")
        if not isinstance(layers, int) or layers < 1:
            raise ValueError(f"layers={layers!r}: use a positive integer (how many of the teacher's layers to keep)")
    if b.task.source == "hub":
        data.require_hub(f"the task {b.task.name!r}")
    where = b.task.train if b.task.source == "files" else f"the task {b.task.name!r}"
    for split, rows in zip(("train", "validation", "test"), b.task.splits()):
        if len(rows) < b.finetune.batch_size:
            raise ValueError(f"{where}: the {split} split has {len(rows)} rows, fewer than one batch "
                             f"({b.finetune.batch_size}); add rows, or lower finetune__batch_size and distill__batch_size")
    if method in ("pf", "pd"):
        replace(b.pretrain, corpus=corpus)  # refuses an unknown corpus name
        if b.pretrain.source == "hub":
            data.check_corpus(corpus, "hub")
    if method in ("d", "pd") and transfer != "none" and not data.is_transfer_file(transfer):
        data.check_transfer(transfer, "hub" if b.task.source == "hub" else "embedded")
        if b.task.pairs:
            raise ValueError(f"{b.task.name!r} is a sentence-pair task: the transfer text {transfer!r} has single "
                             "texts; use transfer='none' (the task's own training pairs) or a file of pairs")


def run(method: str, size="tiny", budget: str | Budget = "classroom", seed: int = 0, *, layers: int = 2,
        finetune_after: bool = False, temperature: float = 1.0, alpha: float = 0.0, transfer=None,
        transfer_examples: int | None = None, include_train=True, corpus=None, vocab_size: int | None = None,
        task=None, pretrained: str | None = None, teacher_model: str = "embedded", quiet=False, force=False,
        **overrides) -> Result:
    """Run one of METHODS for one student size and seed; every stage is cached. `overrides` are budget fields
    (`finetune__epochs=10`, see budget.py). `vocab_size`: the student gets a fresh WordPiece of that many
    tokens, trained on `corpus` (the teacher keeps its own). `force` rebuilds this run's fine-tuning or
    distillation (the shared pre-trained student and teacher are kept). `task`: a data.Task, a hub task name
    ("glue/sst2") or your own file (see data.Task.parse); the task says which data, the budget how much of it.
    `transfer`: "movie", "glosses", "none" (only the task's training inputs) or a file of unlabeled inputs
    (default: "movie" for a task of single texts, "none" for sentence pairs).
    `pretrained` (PF and PD): where the pre-trained student comes from, one of PRETRAINED (default "classroom").
    `teacher_model` (D and PD): "embedded" (MiniLM, offline) or a hub id such as BERT-Base's."""
    b = get_budget(budget, **overrides)
    if task is not None:
        b = with_task(b, task)
    transfer = transfer or default_transfer(b)
    size = parse_size(size)
    corpus = corpus or b.pretrain.corpus
    pretrained = pretrained or {"pf": "classroom", "pd": "classroom", "truncated": "minilm"}.get(method, "none")
    preflight(method, b, seed, layers=layers, transfer=transfer, corpus=corpus, vocab_size=vocab_size,
              pretrained=pretrained, size=size)
    too_big = estimate.warning(size, method, b, pretrained)
    if too_big:
        warnings.warn(too_big, stacklevel=2)
    tune = replace(b.finetune, size=size.short, seed=seed)
    distil = replace(b.distill, size=size.short, seed=seed, temperature=temperature, alpha=alpha)  # checks T, alpha
    stages = []  # (name, folder) of the student's own stages, for wall time and curves

    # random weights (over the student's own vocabulary when it has one), or a pre-trained student
    init = "random" if vocab_size is None else wordpiece_dir(corpus, vocab_size)
    if method in ("pf", "pd"):
        init, pretraining = _student_init(b, size, pretrained, corpus, vocab_size, quiet)
        if pretraining is not None:
            stages.append(("pretrain", pretraining))
    if method in ("basic", "pf"):
        stages.append(("finetune", finetune(replace(tune, init=str(init)), quiet=quiet, force=force)))
    elif method == "truncated":
        config = replace(b.truncated, init=base_teacher(), layers=layers, size=size.short, seed=seed)
        stages.append(("finetune", finetune(config, quiet=quiet, force=force)))
    else:
        logits = _logits(b, transfer, transfer_examples, include_train, teacher_model=teacher_model, quiet=quiet)
        stages.append(("distill", distill(replace(distil, logits=str(logits), init=str(init)), quiet=quiet, force=force)))
        if finetune_after:
            stages.append(("finetune", finetune(replace(tune, init=str(stages[-1][1])), quiet=quiet, force=force)))

    final = stages[-1][1]
    scores = cache.metrics(final)
    precision = cache.read_json(final / "stage.json")["config"]["precision"]
    model, _ = build_classifier(str(final))
    depth = layers if method == "truncated" else model.config.num_hidden_layers
    shown_size = f"L{depth}/H{model.config.hidden_size}"  # MiniLM's layers are H384: off the grid, named as such
    return Result(method=method, size=shown_size, seed=seed, budget=b.name, task=b.task.name, pretrained=pretrained,
                  val_acc=scores["val_acc"], test_acc=scores["test_acc"], val_f1=scores["val_f1"], test_f1=scores["test_f1"],
                  params=scores["params"], precision=precision,
                  latency_ms=latency_ms(model, batch=1, seq_len=b.task.max_len, repeats=20, precision=precision),
                  wall_s=sum(cache.metrics(p).get("wall_s", 0) for _, p in stages), path=str(final),
                  curves={name: cache.metrics(p).get("curve", []) for name, p in stages},
                  config={"budget": asdict(b), "stages": [str(p) for _, p in stages], "layers": layers,
                          "finetune_after": finetune_after, "temperature": temperature, "alpha": alpha,
                          "transfer": transfer, "include_train": include_train, "corpus": corpus,
                          "vocab_size": vocab_size, "pretrained": pretrained})


def compare(size="tiny", methods=tuple(METHODS), budget: str | Budget = "classroom", seeds=(0,), quiet=False,
            **kwargs):
    """Every method x seed for one size: a pandas DataFrame (one row per run) and the Result records."""
    import pandas as pd
    results = [run(m, size, budget, seed, quiet=quiet, **kwargs) for m in methods for seed in seeds]
    return pd.DataFrame([r.row() for r in results]), results
