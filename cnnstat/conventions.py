"""FLOP conventions: every FLOP figure cnnstat prints is derived here from the stored counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class StoredCounts(Protocol):
    """The stored counts a convention reads."""

    macs: int
    elementwise: int
    fvcore: int
    lenet: int


@dataclass(frozen=True)
class Convention:
    """A named rule that turns stored counts into FLOPs."""

    name: str
    summary: str
    flops: Callable[[StoredCounts], int]


CONVENTIONS: dict[str, Convention] = {
    convention.name: convention
    for convention in (
        Convention(
            "lenet",
            "seed 004: conv, linear and pooling layers cost their closed-form connections, (a·k²+1)·b·m², "
            "(in+1)·out, (k²+1)·m²·a; every other layer costs what the `flops` convention gives it",
            lambda c: c.lenet,
        ),
        Convention(
            "macs",
            "multiply-accumulates of convolutions and matrix products only: torch's FlopCounterMode / 2",
            lambda c: c.macs,
        ),
        Convention(
            "flops",
            "2 per MAC plus 1 per elementwise operation: bias, normalisation, activation, addition, pooling",
            lambda c: 2 * c.macs + c.elementwise,
        ),
        Convention(
            "fvcore",
            "what fvcore's FlopCountAnalysis counts: 1 per MAC of conv/linear/matmul, norms and adaptive "
            "average pooling by its estimates, nothing for activations, additions or max pooling",
            lambda c: c.fvcore,
        ),
    )
}

CONVENTION_NAMES = tuple(CONVENTIONS)
DEFAULT_CONVENTION = "lenet"


def flops(counts: StoredCounts, convention: str) -> int:
    """FLOPs of ``counts`` under the named convention."""
    return CONVENTIONS[convention].flops(counts)
