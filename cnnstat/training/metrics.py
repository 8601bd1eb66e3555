"""Per-epoch figures of a run, and the files that hold them: metrics.csv after every epoch, metrics.json at the end."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..atomic import write_atomically


@dataclass
class EpochMetrics:
    """One epoch's figures; validation or test figures are None where that split was not evaluated."""

    epoch: int
    steps: int | None = field(default=None, kw_only=True)  # trained; fewer than an epoch's in a last epoch a budget cut short
    train_loss: float
    train_acc: float
    val_loss: float | None = field(default=None, kw_only=True)
    val_acc: float | None = field(default=None, kw_only=True)
    test_loss: float | None = field(default=None, kw_only=True)
    test_acc: float | None = field(default=None, kw_only=True)
    seconds: float
    images_per_s: float
    lr: float


COLUMNS = tuple(f.name for f in fields(EpochMetrics))


def write_metrics_csv(out: Path, metrics: list[EpochMetrics]) -> None:
    """metrics.csv, one row per epoch (a split not evaluated is an empty cell), written atomically: never a torn row."""
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in asdict(m).items()} for m in metrics)
    write_atomically(out / "metrics.csv", text.getvalue())


def write_metrics(out: Path, metrics: list[EpochMetrics], extra: dict[str, object]) -> None:
    """metrics.csv and metrics.json (the epochs and ``extra``: configuration, device, plan, final result)."""
    write_metrics_csv(out, metrics)
    write_atomically(out / "metrics.json", json.dumps({**extra, "epochs": [asdict(m) for m in metrics]}, indent=2) + "\n")
