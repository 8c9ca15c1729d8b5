"""The paper's methods side by side: basic, PF, D, PD and the truncated teacher, one call each."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import cache
from .budget import Budget, get_budget
from .distill import DistillConfig, distill
from .finetune import FinetuneConfig, build_classifier, finetune
from .pretrain import PretrainConfig, pretrain, wordpiece_dir
from .sizes import parse_size
from .speed import latency_ms
from .teacher import LogitsConfig, base_teacher, teacher_logits, train_teacher

METHODS = {
    "basic": "random init -> fine-tune",
    "pf": "pre-train -> fine-tune",
    "d": "random init -> distil",
    "pd": "pre-train -> distil",
    "truncated": "teacher's bottom layers -> fine-tune",
}


@dataclass
class Result:
    method: str
    size: str
    seed: int
    budget: str
    val_acc: float
    test_acc: float
    val_f1: float
    test_f1: float
    params: int
    latency_ms: float
    wall_s: float                 # the student's own stages (pre-training included), cached or not
    path: str                     # the final model folder
    curves: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The flat part of the record, for a table."""
        return {k: v for k, v in asdict(self).items() if k not in ("curves", "config")}


def pretrained_student(size="tiny", budget: str | Budget = "classroom", *, corpus="general", vocab_size=None,
                       force=False, quiet=False, on_eval=None) -> Path:
    """The masked-LM pre-trained student of this size (one per size and budget: seed 0)."""
    b = get_budget(budget)
    config = PretrainConfig(size=parse_size(size).short, steps=b.pretrain_steps, batch_size=b.pretrain_batch,
                            block_size=b.block_size, lr=b.pretrain_lr, corpus=corpus, vocab_size=vocab_size,
                            bf16=b.bf16, compile=b.compile)
    return pretrain(config, force=force, quiet=quiet, on_eval=on_eval)


def teacher(budget: str | Budget = "classroom", *, model="embedded", force=False, quiet=False) -> Path:
    """The fine-tuned teacher (seed 0, shared by every student and seed)."""
    b = get_budget(budget)
    return train_teacher(model, source=b.source, epochs=b.teacher_epochs, lr=b.teacher_lr,
                         train_examples=b.train_examples, eval_examples=b.eval_examples, max_len=b.max_len,
                         bf16=b.bf16, force=force, quiet=quiet)


def transfer_set(budget: str | Budget = "classroom", *, transfer="movie", transfer_examples=None,
                 include_train=True, teacher_path=None, force=False, quiet=False) -> Path:
    """The teacher's logits over the transfer set (plus the task's training inputs)."""
    b = get_budget(budget)
    teacher_path = teacher_path or teacher(b, quiet=quiet)
    n = transfer_examples if transfer_examples is not None else b.transfer_examples
    config = LogitsConfig(teacher=str(teacher_path), transfer=transfer, transfer_examples=n,
                          include_train=include_train, source=b.source, train_examples=b.train_examples,
                          max_len=b.max_len)
    return teacher_logits(config, force=force, quiet=quiet)


def run(method: str, size="tiny", budget: str | Budget = "classroom", seed: int = 0, *, layers: int = 2,
        finetune_after: bool = False, temperature: float = 1.0, alpha: float = 0.0, transfer="movie",
        transfer_examples: int | None = None, include_train=True, corpus="general", vocab_size: int | None = None,
        quiet=False, **overrides) -> Result:
    """Run one of METHODS for one student size and seed; every stage is cached. `vocab_size`: the student gets a
    fresh WordPiece of that many tokens, trained on `corpus` (the teacher keeps its own)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {list(METHODS)}")
    b = get_budget(budget, **overrides)
    size = parse_size(size)
    stages = []  # (name, folder) of the student's own stages, for wall time and curves

    def tune(init, layers=None, lr=b.finetune_lr, epochs=b.finetune_epochs) -> Path:
        config = FinetuneConfig(init=str(init), size=size.short, layers=layers, source=b.source,
                                train_examples=b.train_examples, eval_examples=b.eval_examples,
                                epochs=epochs, lr=lr, batch_size=b.batch_size, max_len=b.max_len,
                                bf16=b.bf16, seed=seed)
        return finetune(config, quiet=quiet)

    if method in ("pf", "pd"):
        stages.append(("pretrain", pretrained_student(size, b, corpus=corpus, vocab_size=vocab_size, quiet=quiet)))
    elif method == "truncated" and vocab_size is not None:
        raise ValueError("the truncated teacher keeps the teacher's vocabulary: use vocab_size=None")
    # random weights over the student's own vocabulary when it has one
    init = stages[0][1] if stages else ("random" if vocab_size is None else wordpiece_dir(corpus, vocab_size))
    if method in ("basic", "pf"):
        stages.append(("finetune", tune(init)))
    elif method == "truncated":
        stages.append(("finetune", tune(base_teacher(), layers=layers, lr=b.truncated_lr, epochs=b.truncated_epochs)))
    else:
        logits = transfer_set(b, transfer=transfer, transfer_examples=transfer_examples,
                              include_train=include_train, quiet=quiet)
        config = DistillConfig(logits=str(logits), init=str(init), size=size.short, temperature=temperature,
                               alpha=alpha, source=b.source, eval_examples=b.eval_examples, epochs=b.distill_epochs,
                               lr=b.distill_lr, batch_size=b.batch_size, max_len=b.max_len, bf16=b.bf16, seed=seed)
        stages.append(("distill", distill(config, quiet=quiet)))
        if finetune_after:
            stages.append(("finetune", tune(stages[-1][1])))

    final = stages[-1][1]
    scores = cache.metrics(final)
    model, _ = build_classifier(str(final))
    shown_size = f"L{layers}/H{model.config.hidden_size}" if method == "truncated" else size.short
    return Result(method=method, size=shown_size, seed=seed, budget=b.name, val_acc=scores["val_acc"],
                  test_acc=scores["test_acc"], val_f1=scores["val_f1"], test_f1=scores["test_f1"],
                  params=scores["params"], latency_ms=latency_ms(model, batch=1, seq_len=b.max_len, repeats=20),
                  wall_s=sum(cache.metrics(p).get("wall_s", 0) for _, p in stages), path=str(final),
                  curves={name: cache.metrics(p).get("curve", []) for name, p in stages},
                  config={"budget": asdict(b), "stages": [str(p) for _, p in stages], "layers": layers,
                          "finetune_after": finetune_after, "temperature": temperature, "alpha": alpha,
                          "transfer": transfer, "include_train": include_train, "corpus": corpus,
                          "vocab_size": vocab_size})


def compare(size="tiny", methods=tuple(METHODS), budget: str | Budget = "classroom", seeds=(0,), quiet=False,
            **kwargs):
    """Every method x seed for one size: a pandas DataFrame (one row per run) and the Result records."""
    import pandas as pd
    results = [run(m, size, budget, seed, quiet=quiet, **kwargs) for m in methods for seed in seeds]
    return pd.DataFrame([r.row() for r in results]), results
