"""Checks of the values the configs share: each refusal is one sentence naming the field and what is valid."""
from __future__ import annotations

import math

SEEDS = 2 ** 32  # numpy's seeds: 0 .. 2**32 - 1


def whole(value, field: str, minimum: int = 1, maximum: int | None = None, *, none: str = "", why: str = "") -> None:
    """An integer (a bool is not one) from `minimum` to `maximum`; also None where `none` says what None means."""
    if value is None and none:
        return
    if isinstance(value, int) and not isinstance(value, bool) and minimum <= value and (maximum is None or value <= maximum):
        return
    valid = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
    raise ValueError(f"{field}={value!r}: use an integer {valid}" + (f", or None for {none}" if none else "")
                     + (f" ({why})" if why else ""))


def seed(value, field: str = "seed") -> None:
    """A seed numpy accepts."""
    whole(value, field, 0, SEEDS - 1)


def finite(value, field: str) -> None:
    """Not inf or nan (a float from --set may be either)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{field}={value!r}: use a finite number")
