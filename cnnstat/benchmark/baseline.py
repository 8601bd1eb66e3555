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


Baseline = dict[tuple[str, int, str], dict[str, float]]


def read_baseline(path: Path) -> Baseline:
    """An earlier ``bench --format json``, by (model, batch size, mode); read before any timing, so a bad file fails fast."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        old = {(r["model"], r["batch_size"], r["mode"]): r for r in document["results"]}
        for row in old.values():
            float(row["images_per_s"]), float(row["p90_s"]), float(row["p10_s"]), float(row["median_s"])
    except IsADirectoryError:
        raise CnnstatError(f"--baseline {path} is a folder, not a bench JSON file") from None
    except OSError as error:
        raise CnnstatError(f"--baseline {path} cannot be read: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CnnstatError(f"--baseline {path}: not a cnnstat bench JSON ({type(error).__name__}: {error})") from None
    return old


def compare_baseline(report: BenchReport, old: Baseline) -> list[Change]:
    """Images/s beside a baseline; changes beyond the measured spread are faster/slower."""
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
