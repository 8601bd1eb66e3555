"""Whether a timing can be trusted: its median, its spread, and the reasons to doubt it."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: A spread (p90 − p10) / median above this is too wide to trust.
WIDE_SPREAD = 0.25
#: Fewer timings than this give no spread worth reading.
FEW_SAMPLES = 5


@dataclass(frozen=True)
class Spread:
    """The median of some timings, their 10th and 90th percentiles, and how many there were."""

    median: float
    p10: float
    p90: float
    count: int

    @property
    def relative(self) -> float:
        """(p90 − p10) / median: how much the timings scatter."""
        return (self.p90 - self.p10) / self.median if self.median else 0.0

    def doubts(self, load: float | None = None, cores: int | None = None) -> list[str]:
        """Why this figure is too noisy to trust: a single sample, too few, a wide spread, a busy machine; none if sound."""
        found = []
        if self.count == 1:
            found.append("a single sample")
        elif self.count < FEW_SAMPLES:
            found.append(f"only {self.count} samples")
        if self.count > 1 and self.relative > WIDE_SPREAD:
            found.append(f"p10–p90 spread {100 * self.relative:.0f}% of the median (over {100 * WIDE_SPREAD:.0f}%)")
        if load is not None and cores and load > cores:
            found.append(f"a busy machine (load {load:.1f} on {cores} cores)")
        return found


def spread_of(times: Sequence[float]) -> Spread:
    """The spread of ``times`` (at least one)."""
    ordered = sorted(times)
    median = statistics.median(ordered)
    if len(ordered) == 1:
        return Spread(median, median, median, 1)
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    return Spread(median, deciles[0], deciles[-1], len(ordered))


def machine_load() -> tuple[float | None, int]:
    """The one-minute load average (None where the OS has none) and the cores."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
    return load, os.cpu_count() or 1
