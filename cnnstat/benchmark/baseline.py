"""Comparing a benchmark with an earlier one: changes beyond the measured spread are faster or slower."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import CnnstatError
from .timing import BenchReport


@dataclass(frozen=True)
class Change:
    """A result beside the same measurement in a baseline."""

    model: str
    batch_size: int
    mode: str
    before: float
    after: float
    verdict: str  # faster | slower | unchanged | new

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("nan")


def compare_baseline(report: BenchReport, baseline: Path) -> list[Change]:
    """Images/s beside a baseline JSON; changes beyond the measured spread are faster/slower."""
    try:
        document = json.loads(baseline.read_text())
        old = {(r["model"], r["batch_size"], r["mode"]): r for r in document["results"]}
        for row in old.values():
            float(row["images_per_s"]), float(row["p90_s"]), float(row["p10_s"]), float(row["median_s"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CnnstatError(f"--baseline {baseline}: not a cnnstat bench JSON ({type(error).__name__}: {error})") from None
    changes = []
    for result in report.results:
        earlier = old.get((result.model, result.batch_size, result.mode))
        if earlier is None:
            changes.append(Change(result.model, result.batch_size, result.mode, 0.0, result.images_per_s, "new"))
            continue
        before = earlier["images_per_s"]
        earlier_spread = (earlier["p90_s"] - earlier["p10_s"]) / earlier["median_s"] if earlier["median_s"] else 0.0
        threshold = max(result.spread, earlier_spread)
        change = result.images_per_s / before - 1 if before else 0.0
        verdict = "faster" if change > threshold else "slower" if change < -threshold else "unchanged"
        changes.append(Change(result.model, result.batch_size, result.mode, before, result.images_per_s, verdict))
    return changes
