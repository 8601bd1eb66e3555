"""The roofline floor of a layer: the least time its FLOPs and bytes allow on a machine's peaks.

floor = max(FLOPs / compute peak of its dtype, bytes / bandwidth at its working set). The working
set is the bytes its largest op touches, so a layer whose tensors fit in a cache is held to that
cache's bandwidth from the measured curve. A published device has one bandwidth (its memory's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Peaks(Protocol):
    """What a floor needs of a machine: measured (``MachinePeaks``) or published (``PublishedDevice``)."""

    def compute_gflops(self, dtype: str) -> float: ...

    def bandwidth_at(self, working_set: int) -> float: ...


@dataclass(frozen=True)
class Floor:
    """The least time a layer can take, and which roof sets it."""

    seconds: float
    bound: str  # "compute" or "memory"; "" for a layer that neither computes nor moves bytes


def floor_of(flops: int, moved: int, dtype: str, peaks: Peaks, working: int | None = None) -> Floor:
    """The roofline floor of ``flops`` and ``moved`` bytes in ``dtype`` on ``peaks``, the bandwidth read at ``working``
    bytes (default: ``moved``)."""
    compute = flops / (peaks.compute_gflops(dtype) * 1e9)
    memory = moved / (peaks.bandwidth_at(working or moved) * 1e9) if moved else 0.0
    if not (compute or memory):
        return Floor(0.0, "")
    return Floor(compute, "compute") if compute >= memory else Floor(memory, "memory")


def working_set(ops: Sequence[Any]) -> int:
    """The bytes a layer's largest op touches at once: what it reads and writes, an in-place op's tensor once.

    ``ops`` are a report row's counted ops; an aten op whose name ends in ``_`` (``relu_``, ``add_``) writes into
    the tensor it reads, so its traffic is twice the memory it occupies.
    """
    sizes = [op.measures.bytes - sum(t.nbytes for t in op.record.outputs) if op.record.op.endswith("_") else op.measures.bytes
             for op in ops]  # fmt: skip
    return max(sizes, default=0)
