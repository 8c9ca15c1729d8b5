"""The methods side by side (methods.METHODS: basic, PF, D, PD, the truncated teacher, PKD), one call each.

A recipe resolves the budget once, checks everything cheap (names, values, the hub when asked for) before
any stage runs, then derives each stage's config from the budget's with `dataclasses.replace`."""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import cache, checks, data, distill, estimate, methods
from .budget import Budget, get_budget, with_task
from .device import cpu_flags, resolve, slow_precision
from .methods import METHODS, PRETRAINED, Method  # noqa: F401  (METHODS, PRETRAINED: recipes.METHODS in notebooks)
from .cache import function_id
from .models import truncated_encoder
from .pretrain import mask_tokens, pretrain
from .sizes import parse_size
from .teacher import (SHIPPED, SHIPPED_MANIFEST, check_teacher, for_teacher, labels_at_hand, logits_key,
                      shipped_teacher, soft_labels, teacher_here, teacher_label, teacher_path, train_teacher)
from .vocab import wordpiece_dir


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
    soft_loss: str = ""           # distilled methods: whose soft loss trained the student ("kit" or "learner:<hash>")
    trained_on: int = 0           # the examples its last stage trained on: labeled texts, or transfer texts for D, PD
    labels: int = 0               # the labelled examples it saw, or its teacher saw (a distilled student)
    pretrain_tokens: int | None = None  # tokens read in the kit's own pre-training: 0 from random, None: read elsewhere
    heldout_loss: float | None = None   # its masked-LM loss on held-out text (nats), and a unigram model's
    unigram_loss: float | None = None
    curves: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The flat part of the record, for a table."""
        return {k: v for k, v in asdict(self).items() if k not in ("curves", "config")}

    def record(self, setting=None) -> dict:
        """The row for the committed results file: the run, the setting it varies (a results.Setting; None: the
        default), and where and how it ran."""
        from .results import Setting
        setting = setting or Setting()
        return {**self.row(), **setting.columns(), **cache.provenance(), "cpu_flags": " ".join(cpu_flags())}


def teacher_name(b: Budget) -> str:
    """The teacher in a few words: which encoder, fine-tuned how many epochs ("minilm-l6-1ep", "mpnet-base-3ep")."""
    return f"{teacher_label(b.teacher.init)}-{b.teacher.epochs:g}ep"


# Fields a recipe sets itself, from run()'s own arguments or from another stage: an override would be ignored.
RECIPE_FIELDS = {"pretrain__size": "run()'s size", "logits__teacher": "teacher__init",
                 "distill__soft_loss": "run()'s soft_loss", "pretrain__masking": "pretrained_student()'s mask_fn",
                 **{f"{stage}__{name}": where for stage in ("finetune", "truncated", "distill", "pkd")
                    for name, where in (("size", "run()'s size"), ("seed", "run()'s seed"),
                                        ("init", "run()'s pretrained"))},
                 **{f"{stage}__logits": "the teacher's logits stage" for stage in ("distill", "pkd")},
                 "pkd__states": "the teacher's [CLS] states stage", "pkd__soft_loss": "run()'s soft_loss"}


def resolve_budget(budget: str | Budget = "classroom", task=None, **overrides) -> Budget:
    """The budget a recipe runs with: a preset (or Budget), the task if given, and overrides of its fields."""
    owned = sorted(set(overrides) & set(RECIPE_FIELDS))
    if owned:
        raise ValueError(", ".join(f"{name} is set from {RECIPE_FIELDS[name]}" for name in owned)
                         + ": set that instead")
    b = get_budget(budget, **overrides)
    return with_task(b, task) if task is not None else b


def pretrained_student(size="tiny", budget: str | Budget = "classroom", *, force=False, quiet=False, on_eval=None,
                       mask_fn=None, **overrides) -> Path:
    """The masked-LM pre-trained student of this size (one per size and budget: seed 0). `mask_fn`: a learner's
    masking function for the training batches (None: the kit's); it is part of the cache key."""
    b = resolve_budget(budget, **overrides)
    config = replace(b.pretrain, size=parse_size(size).short, masking=function_id(mask_fn, mask_tokens))
    return pretrain(config, force=force, quiet=quiet, on_eval=on_eval, mask_fn=mask_fn)


def teacher(budget: str | Budget = "classroom", *, force=False, quiet=False, **overrides) -> Path:
    """The fine-tuned teacher (seed 0, shared by every student and seed)."""
    return train_teacher(resolve_budget(budget, **overrides).teacher, force=force, quiet=quiet)


def transfer_set(budget: str | Budget = "classroom", *, force=False, quiet=False, **overrides) -> Path:
    """The teacher's logits over the budget's transfer set (plus the task's training inputs)."""
    b = resolve_budget(budget, **overrides)
    return soft_labels(b.teacher, b.logits, force=force, quiet=quiet)


def _start(b: Budget, size, start: str, quiet: bool) -> tuple[str, list]:
    """(init, [the pre-training stage] or []) for a student that starts at `start` (methods.STARTS)."""
    if start == "google":
        return size.hub_id, []
    if start in ("minilm", "teacher"):
        return str(truncated_encoder(size.layers, "embedded" if start == "minilm" else b.teacher.init)), []
    if start == "own":
        folder = pretrain(replace(b.pretrain, size=size.short), quiet=quiet)
        return str(folder), [("pretrain", folder)]
    vocab = b.pretrain.vocab_size  # random weights, over the student's own vocabulary when it has one
    return ("random" if vocab is None else str(wordpiece_dir(b.pretrain.corpus, vocab))), []


def preflight(method: Method, b: Budget, seed, size, start: str, *, asked: bool = False) -> None:
    """Every cheap check a run needs, before any stage starts: names, values and, when asked for, the hub.
    `asked`: the learner chose the start (then a start that changes the student's width is named)."""
    if start not in method.starts:
        raise ValueError(f"pretrained={start!r} for {method.name}: it starts from "
                         + (f"one of {list(method.starts)}" if len(method.starts) > 1 else f"{method.starts[0]!r} only")
                         + f" ({', '.join(methods.STARTS[s].split(',')[0] for s in method.starts)})")
    checks.seed(seed)
    methods.check_start(start, b, size)
    if method.check:
        method.check(b, size)
    if b.task.source == "hub":
        data.require_hub(f"the task {b.task.name!r}")
    where = b.task.train if b.task.source == "files" else f"the task {b.task.name!r}"
    names = b.task.label_names
    for split, rows in zip(("train", "validation", "test"), b.task.splits(seed)):
        if len(rows) < b.finetune.batch_size:
            raise ValueError(f"{where}: the {split} split has {len(rows)} rows, fewer than one batch "
                             f"({b.finetune.batch_size}); add rows, or lower finetune__batch_size and distill__batch_size")
        absent = [names[i] for i in sorted(set(range(len(names))) - set(data.column(rows, "label")))]
        if absent and b.task.source == "files":  # the files themselves were checked: the budget's subsample lost it
            field = "task__train_examples" if split == "train" else "task__eval_examples"
            raise ValueError(f"{where}: at the {b.name!r} budget the {split} split keeps {len(rows)} rows ({field}) and "
                             f"no example of class(es) {absent[:5]}; raise {field} (None: all rows)")
    if b.task.source == "files":
        data.show_class_table(b.task, seed)
    if start == "own" and b.pretrain.source == "hub":
        data.check_corpus(b.pretrain.corpus, "hub")
    if method.teacher:
        _check_transfer(b)
    # Legal but costly choices are named before they cost.
    slow = slow_precision(b.precision)
    if slow:
        warnings.warn(slow, stacklevel=3)
    if asked and start == "minilm" and size.hidden != 384:
        wide = parse_size((size.layers, 384), off_grid=True)
        warnings.warn(f"pretrained='minilm' keeps MiniLM's width: this trains {wide.short} "
                      f"({wide.mlm_params / 1e6:.1f}M parameters), not {size.name} ({size.short}, "
                      f"{size.mlm_params / 1e6:.1f}M): a different student; for {size.short} itself use "
                      "pretrained='own' or 'google'", stacklevel=3)


def _check_transfer(b: Budget) -> None:
    """A distilled method's cheap checks: a teacher that can load (unless its soft labels are here) and transfer text."""
    if not labels_at_hand(for_teacher(b.teacher, b.logits)):  # soft labels from a pack or the kit need no teacher
        check_teacher(b.teacher.init)
    transfer = b.logits.transfer
    if transfer in (None, "none"):
        return
    if data.is_transfer_file(transfer):
        data.transfer_inputs(transfer, b.task, 1)  # an empty, blank or wholly held-out file is refused here
        return
    data.check_transfer(transfer, "hub" if b.task.source == "hub" else "embedded")
    if b.task.pairs:
        raise ValueError(f"{b.task.name!r} is a sentence-pair task: the transfer text {transfer!r} has single "
                         "texts; use transfer='none' (the task's own training pairs) or a file of pairs")


def run(method: str, size="tiny", budget: str | Budget = "classroom", seed: int = 0, *, task=None,
        pretrained: str | None = None, soft_loss=None, quiet=False, force=False, **overrides) -> Result:
    """Run one of methods.METHODS for one student size and seed; every stage is cached.

    `overrides` are the budget's fields, the only way to change a setting: `distill__temperature=2` (or its short
    name `temperature=2`, see budget.ALIASES), `logits__transfer="glosses"`, `pretrain__vocab_size=8192`, ...
    `task`: a data.Task, a hub task name ("glue/sst2") or your own file (see data.Task.parse); the task says which
    data, the budget how much of it. `pretrained`: where the student starts (methods.STARTS; default: the method's
    first). `soft_loss`: distillation's soft loss function (None: the kit's); it is part of the cache key. `force`
    rebuilds this run's own training stage (the shared pre-trained student and teacher are kept)."""
    chosen = methods.get(method)
    b = resolve_budget(budget, task, **overrides)
    loss = distill.loss_id(soft_loss)
    b = replace(b, distill=replace(b.distill, soft_loss=loss), pkd=replace(b.pkd, soft_loss=loss))
    start = pretrained or chosen.starts[0]
    size = parse_size(size, off_grid=start in ("minilm", "teacher"))  # the teacher's layers: its width, off the grid
    preflight(chosen, b, seed, size, start, asked=pretrained is not None)
    too_big = estimate.warning(size, chosen.name, b, start)
    if too_big:
        warnings.warn(too_big, stacklevel=2)
    init, stages = _start(b, size, start, quiet)
    stages += chosen.train(methods.Run(b, size, seed, init, quiet=quiet, force=force, soft_loss=soft_loss))
    return _result(chosen, seed, b, start, stages)


def _result(method: Method, seed: int, b: Budget, start: str, stages: list) -> Result:
    """The run's record, from what its stages recorded (the classifier stages time the model they trained)."""
    final = stages[-1][1]
    records = {name: cache.metrics(folder) for name, folder in stages}  # each stage's metrics.json, read once
    scores, read = records[stages[-1][0]], records.get("pretrain", {})
    shape = cache.read_json(final / "config.json")
    return Result(method=method.name, size=f"L{shape['num_hidden_layers']}/H{shape['hidden_size']}", seed=seed,
                  budget=b.name, task=b.task.name, pretrained=start, val_acc=scores["val_acc"],
                  test_acc=scores["test_acc"], val_f1=scores["val_f1"], test_f1=scores["test_f1"],
                  trained_on=scores.get("transfer_examples") or scores.get("train_examples") or 0,
                  params=scores["params"], latency_ms=scores.get("latency_ms", float("nan")), precision=resolve(b.precision),
                  teacher=teacher_name(b) if method.teacher else "", labels=_labels_seen(method, b, records),
                  pretrain_tokens=read.get("tokens_seen") if "pretrain" in records else 0 if start == "none" else None,
                  heldout_loss=read.get("heldout_loss"), unigram_loss=read.get("unigram_entropy"),
                  soft_loss=next((r["soft_loss"] for r in records.values() if "soft_loss" in r), ""),
                  wall_s=sum(r.get("wall_s", 0) for r in records.values()), path=str(final),
                  curves={name: r.get("curve", []) for name, r in records.items()},
                  config={"budget": asdict(b), "stages": [str(p) for _, p in stages]})


def _labels_seen(method: Method, b: Budget, records: dict) -> int:
    """The labelled examples a run saw: its own fine-tuning's, and for a distilled student its teacher's."""
    own = max((r.get("train_examples") or 0 for r in records.values()), default=0)
    if not method.teacher:
        return own
    tuned = teacher_path(b.teacher)
    taught = cache.metrics(tuned).get("train_examples") if (tuned / "metrics.json").exists() else None
    return max(own, taught if taught is not None else b.task.train_examples or 0)


def teacher_result(budget: str | Budget = "classroom", *, quiet=False, shipped=False, **overrides) -> Result:
    """The teacher's record, like a student's: its accuracy, latency and size beside theirs. `shipped`: a teacher that
    is not here, but whose soft labels the kit ships, is not fine-tuned: its record is the kit's (path: the manifest)."""
    b = resolve_budget(budget, **overrides)
    record = shipped and not teacher_here(teacher_path(b.teacher)) and labels_at_hand(for_teacher(b.teacher, b.logits)) \
        and shipped_teacher(b.teacher)
    if record:
        folder, scores, shape = SHIPPED / SHIPPED_MANIFEST, record["metrics"], record["config"]
    else:
        folder = train_teacher(b.teacher, quiet=quiet)
        scores, shape = cache.metrics(folder), cache.read_json(folder / "config.json")
    return Result(method="teacher", size=f"L{shape['num_hidden_layers']}/H{shape['hidden_size']}", seed=b.teacher.seed,
                  budget=b.name, task=b.task.name, pretrained="minilm" if b.teacher.init == "embedded" else b.teacher.init,
                  val_acc=scores["val_acc"], test_acc=scores["test_acc"], val_f1=scores["val_f1"],
                  test_f1=scores["test_f1"], trained_on=scores.get("train_examples") or 0, params=scores["params"],
                  labels=scores.get("train_examples") or 0,
                  latency_ms=scores.get("latency_ms", float("nan")), precision=resolve(b.precision),
                  teacher=teacher_name(b), wall_s=scores.get("wall_s", 0), path=str(folder),
                  curves={"finetune": scores.get("curve", [])},
                  config={"budget": asdict(b), "stages": [str(folder)], **({"made": record["made"]} if record else {})})


def well_read_budget(budget: str | Budget = "classroom", seed: int = 0, *, labels: int = 1000, examples: int = 4000,
                     transfer: str | None = None) -> Budget:
    """The budget of `well_read`'s runs: this seed's `labels` labelled examples for the teacher and every run, the
    teacher fine-tuned examples / labels passes over them."""
    checks.whole(examples, "examples", why="the examples basic and PF train on")
    checks.whole(labels, "labels", why="the labelled examples every run and the teacher see")
    return resolve_budget(budget, **{"task__train_examples": labels, "teacher__seed": seed, "logits__seed": seed,
                                     "teacher__epochs": examples / labels,
                                     **({"transfer": transfer} if transfer is not None else {})})


def well_read(size="tiny", budget: str | Budget = "classroom", seed: int = 0, *, labels: int = 1000,
              examples: int = 4000, transfer: str | None = None, own_teacher: bool = False, quiet=False
              ) -> list[Result]:
    """The paper's comparison made fair, at the student's depth and MiniLM's width (L{layers}/H384, at most 6 layers),
    from a random start and from MiniLM's layers (a start that read at scale). The teacher, basic and PF see the same
    `labels` labelled examples (this seed's sample): basic and PF train on about `examples` of them (examples / labels
    passes); the teacher is fine-tuned as many passes. D and PD distil what that teacher says of the budget's transfer
    texts (`transfer`, None: the budget's) and those labelled inputs, one pass. Each batch runs in two halves: at
    MiniLM's width Mini's runs otherwise take notebook 4 over 1.5 GB. Returns basic, PF, D, PD and that teacher (the
    kit's record of it where the kit ships its soft labels and not `own_teacher`: it is then not fine-tuned here)."""
    b = well_read_budget(budget, seed, labels=labels, examples=examples, transfer=transfer)
    passes = b.teacher.epochs  # examples / labels: the teacher's passes, and basic's and PF's
    shape = parse_size(f"L{min(parse_size(size).layers, 6)}/H384", off_grid=True)
    tuned = {"finetune__epochs": passes, "finetune__gradient_accumulation_steps": 2}
    distilled = {"distill__epochs": 1.0, "distill__gradient_accumulation_steps": 2}
    fair_teacher = teacher_result(b, quiet=quiet, shipped=not own_teacher)  # first: shipped labels get checked by it
    return [run("basic", shape, b, seed, quiet=quiet, **tuned),
            run("pf", shape, b, seed, pretrained="minilm", quiet=quiet, **tuned),
            run("d", shape, b, seed, quiet=quiet, **distilled),
            run("pd", shape, b, seed, pretrained="minilm", quiet=quiet, **distilled),
            fair_teacher]


def compare(size="tiny", methods=("basic", "pf", "d", "pd", "truncated"), budget: str | Budget = "classroom", seeds=(0,), quiet=False,
            **kwargs):
    """Every method x seed for one size: a pandas DataFrame (one row per run) and the Result records."""
    import pandas as pd
    results = [run(m, size, budget, seed, quiet=quiet, **kwargs) for m in methods for seed in seeds]
    return pd.DataFrame([r.row() for r in results]), results


def transfer_sizes(budget: str | Budget = "classroom") -> list[int]:
    """Notebook 5's transfer-set sizes at a budget: an eighth of its transfer texts (at least 64), and all of them."""
    b = resolve_budget(budget)
    full = b.logits.transfer_examples or len(data.load_transfer("movie"))
    return [max(64, full // 8), full]


def tour_soft_labels(budget: str | Budget = "classroom", seed: int = 0) -> list[str]:
    """The keys of the logits stages the tour's notebooks label at this budget: notebook 2's teacher on the transfer
    set, notebook 4's fair teacher (`well_read`), notebook 5's eighth of the transfer set in both domains, and the
    training inputs' stages they join. The kit ships these (benchmarks/ship_soft_labels.py)."""
    b = resolve_budget(budget)
    eighth = transfer_sizes(b)[0]
    wanted = [(b, {}), (well_read_budget(b, seed), {})] + [(b, {"transfer": d, "transfer_examples": eighth})
                                                          for d in ("movie", "glosses")]
    keys = []
    for chosen, fields in wanted:
        config = for_teacher(chosen.teacher, replace(chosen.logits, **fields))
        keys += [logits_key(config), logits_key(replace(config, transfer="none", transfer_fingerprint=""))]
    return list(dict.fromkeys(keys))
