"""One training loop for every device: Accelerate picks CPU, a GPU, or several under `accelerate launch`."""
from __future__ import annotations

import random

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from transformers.utils import logging as transformers_logging

# The kit draws its own progress bars; transformers' bars and weight reports on every load are noise.
transformers_logging.disable_progress_bar()
transformers_logging.set_verbosity_error()


def accelerator(bf16: bool = True) -> Accelerator:
    """A fresh Accelerator; bf16 autocast (fp32 master weights) where the hardware has it."""
    # Accelerate keeps one global precision per process; stages with different settings reset it.
    AcceleratorState._reset_state()
    return Accelerator(mixed_precision="bf16" if bf16 and _bf16_ok() else "no")


def _bf16_ok() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return True  # CPU autocast runs bf16 everywhere; it is fast only with AVX-512-BF16/AMX


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for the data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
