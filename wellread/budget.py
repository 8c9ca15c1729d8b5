"""Budget presets: every step count and data size of every stage, in one place."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Budget:
    name: str
    # masked-LM pre-training of the student
    pretrain_steps: int
    pretrain_batch: int = 32
    block_size: int = 128
    pretrain_lr: float = 1e-3
    # labeled task (None = all of it)
    train_examples: int | None = None
    eval_examples: int | None = None
    max_len: int = 64
    batch_size: int = 32
    # teacher fine-tuning
    teacher_epochs: float = 1.0
    teacher_lr: float = 5e-5
    # student fine-tuning (basic, PF, truncated teacher, and the optional step after D/PD)
    finetune_epochs: float = 3.0
    finetune_lr: float = 5e-4
    truncated_lr: float = 1e-4      # the truncated teacher starts from weights pre-trained at scale...
    truncated_epochs: float = 1.0   # ...and needs fewer epochs
    # distillation on unlabeled transfer text
    transfer_examples: int | None = 40_000
    distill_epochs: float = 1.0
    distill_lr: float = 5e-4
    # speed: bf16 autocast and torch.compile for the pre-training step
    bf16: bool = True
    compile: bool = False
    source: str = "embedded"


BUDGETS = {
    # CI: every stage runs for seconds; numbers are only checked for sanity.
    "smoke": Budget("smoke", pretrain_steps=30, pretrain_batch=16, train_examples=512, eval_examples=256,
                    teacher_epochs=1, finetune_epochs=1, transfer_examples=1024, distill_epochs=1),
    # The default: all stages for one small student in about 20 minutes on a 2-core laptop CPU.
    "classroom": Budget("classroom", pretrain_steps=1500),
    # A GPU with internet: hub data, paper-scale steps (the paper pre-trained for 1M steps).
    "paper": Budget("paper", pretrain_steps=100_000, pretrain_batch=256, block_size=128, pretrain_lr=1e-4,
                    max_len=128, teacher_epochs=3, teacher_lr=2e-5, finetune_epochs=4, finetune_lr=1e-4, truncated_lr=3e-5, truncated_epochs=3,
                    transfer_examples=None, distill_epochs=4, distill_lr=1e-4, source="hub"),
}


def get_budget(budget: str | Budget = "classroom", **overrides) -> Budget:
    """A preset by name, with any field overridden: `get_budget("smoke", pretrain_steps=100)`."""
    if isinstance(budget, Budget):
        base = budget
    elif budget in BUDGETS:
        base = BUDGETS[budget]
    else:
        raise ValueError(f"unknown budget {budget!r}; valid: {sorted(BUDGETS)}")
    known = {f.name for f in fields(Budget)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown budget field(s) {sorted(unknown)}; valid: {sorted(known - {'name'})}")
    return replace(base, **overrides)
