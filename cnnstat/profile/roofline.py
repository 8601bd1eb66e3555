"""The roofline floor of a layer: the least time its FLOPs and bytes allow on a machine's peaks.

floor = max(FLOPs / compute peak of its dtype, bytes / bandwidth at its working set). The working
set is the bytes the layer's ops touch, so a layer whose tensors fit in a cache is held to that
cache's bandwidth from the measured curve. A published device has one bandwidth (its memory's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Peaks(Protocol):
    """What a floor needs of a machine: measured (``MachinePeaks``) or published (``PublishedDevice``)."""

    def compute_gflops(self, dtype: str) -> float: ...

    def bandwidth_at(self, working_set: int) -> float: ...


@dataclass(frozen=True)
class Floor:
    """The least time a layer can take, and which roof sets it."""

    seconds: float
    bound: str  # "compute" or "memory"; "" for a layer that neither computes nor moves bytes


def floor_of(flops: int, moved: int, dtype: str, peaks: Peaks) -> Floor:
    """The roofline floor of ``flops`` and ``moved`` bytes in ``dtype`` on ``peaks``."""
    compute = flops / (peaks.compute_gflops(dtype) * 1e9)
    memory = moved / (peaks.bandwidth_at(moved) * 1e9) if moved else 0.0
    if not (compute or memory):
        return Floor(0.0, "")
    return Floor(compute, "compute") if compute >= memory else Floor(memory, "memory")
