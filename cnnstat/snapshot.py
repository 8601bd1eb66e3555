"""Architecture snapshots: one JSON file per model and input; any change is a readable diff."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import Report
from .atomic import write_atomically
from .errors import CnnstatError

SNAPSHOT_FIELDS = ("type", "input_shape", "output_shape", "params", "trainable_params", "macs", "elementwise",
                   "fvcore", "lenet", "connections", "neurons")  # fmt: skip


@dataclass(frozen=True)
class SnapshotResult:
    """What comparing a report with its snapshot found."""

    path: Path
    status: str  # "written", "updated", "unchanged" or "changed"
    differences: tuple[str, ...] = ()


def snapshot_path(directory: Path, report: Report) -> Path:
    """``DIR/<model>@<C>x<H>x<W>.json``; the batch is part of the input, so it is kept when not 1."""
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", report.model).strip("_")
    size = "x".join(str(d) for d in report.input_shape[1:])
    batch = f"-b{report.input_shape[0]}" if report.input_shape[0] != 1 else ""
    return directory / f"{model}@{size}{batch}.json"


def snapshot_document(report: Report) -> dict[str, Any]:
    """The stored form: every layer's name, type, shapes and counts."""

    def plain(value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    layers = [{"name": layer.name, **{f: plain(getattr(layer, f)) for f in SNAPSHOT_FIELDS}} for layer in report.layers]
    return {"model": report.model, "input": list(report.input_shape), "layers": layers}


def _layer_key(layers: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(name, call number): a module called several times has several rows."""
    seen: dict[str, int] = {}
    keys = []
    for layer in layers:
        seen[layer["name"]] = seen.get(layer["name"], 0) + 1
        keys.append((layer["name"], seen[layer["name"]]))
    return keys


def diff_snapshots(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences: the layer, the field, old → new."""
    old_rows = dict(zip(_layer_key(old["layers"]), old["layers"], strict=True))
    new_rows = dict(zip(_layer_key(new["layers"]), new["layers"], strict=True))
    differences = []
    for key, row in new_rows.items():
        label = key[0] if key[1] == 1 else f"{key[0]} (call {key[1]})"
        if key not in old_rows:
            differences.append(f"layer {label}: added ({row['type']})")
            continue
        for field in SNAPSHOT_FIELDS:
            before, after = old_rows[key].get(field), row.get(field)
            if before != after:
                differences.append(f"layer {label}: {field} {_show(before)} → {_show(after)}")
    for key, row in old_rows.items():
        if key not in new_rows:
            differences.append(f"layer {key[0]}: removed ({row['type']})")
    return differences


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "×".join(map(str, value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def compare_snapshot(report: Report, directory: Path, update: bool = False) -> SnapshotResult:
    """Write the snapshot the first time; afterwards compare (or, with ``update``, rewrite)."""
    path = snapshot_path(directory, report)
    document = snapshot_document(report)
    text = json.dumps(document, indent=1) + "\n"
    if not path.exists():
        write_atomically(path, text)
        return SnapshotResult(path, "written")
    try:
        stored = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CnnstatError(f"snapshot {path} is not valid JSON ({error}); delete it or pass --update-snapshot") from None
    differences = tuple(diff_snapshots(stored, document))
    if not differences:
        return SnapshotResult(path, "unchanged")
    if update:
        write_atomically(path, text)
        return SnapshotResult(path, "updated", differences)
    return SnapshotResult(path, "changed", differences)
