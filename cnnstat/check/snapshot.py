"""Architecture snapshots: one JSON file per model and input; any change is a readable diff.

A snapshot stores the columns the registry marks as stored (``counting/columns.py``): every layer's
name, type, shapes, parameters, every numeric measure, its FLOPs under every convention and its
receptive field. A new measure needs no change here: a snapshot written before it existed shows it
as new, not changed.
"""

from __future__ import annotations

import json
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_atomically
from ..counting.columns import ROW_COLUMNS, Source, Unit
from ..counting.conventions import CONVENTIONS
from ..counting.records import format_shape
from ..counting.report import Report
from ..errors import CnnstatError
from ..formats import check_format
from .comparison import call_keys

FORMAT = 2  # 1: cnnstat 0.1 (fvcore and lenet FLOPs as their own fields)
_STORED = tuple(column for column in ROW_COLUMNS if column.stored)
_NUMBERS = tuple(c.name for c in _STORED if c.unit in (Unit.COUNT, Unit.BYTES) and c.source is not Source.CONVENTION)
_SHAPES = tuple(c.name for c in _STORED if c.unit in (Unit.SHAPE, Unit.EXTENT))


class SnapshotError(CnnstatError):
    """A snapshot file that cannot be read as one."""


@dataclass(frozen=True)
class SnapshotResult:
    """What comparing a report with its snapshot found."""

    path: Path
    status: str  # "written", "updated", "unchanged" or "changed"
    differences: tuple[str, ...] = ()
    new_fields: tuple[str, ...] = ()  # measured now, not in the stored snapshot: not compared


def snapshot_path(directory: Path, report: Report) -> Path:
    """``DIR/<model>@<C>x<H>x<W>.json``; several inputs are joined with ``+``; a batch other than 1 is kept."""
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", report.model).strip("_")
    size = "+".join("x".join(str(d) for d in meta.shape[1:]) or "scalar" for _, meta in report.inputs)
    batch = f"-b{report.input_shape[0]}" if report.input_shape and report.input_shape[0] != 1 else ""
    return directory / f"{model}@{size}{batch}.json"


def snapshot_document(report: Report) -> dict[str, Any]:
    """The stored form: every layer's name, type, shapes, parameters, measures, FLOPs per convention, receptive field."""
    by_convention = {name: report.with_convention(name) for name in CONVENTIONS}
    layers = []
    for index, layer in enumerate(report.layers):
        row = layer.row()
        stored = {column.name: row[column.name] for column in _STORED}
        # FLOPs depend on the convention: a snapshot keeps them under every one
        stored.update({column.name: {name: getattr(converted.layers[index], column.name) for name, converted in
                                     by_convention.items()} for column in _STORED if column.source is Source.CONVENTION})  # fmt: skip
        layers.append(stored)
    return {"format": FORMAT, "model": report.model, "input": list(report.input_shape), "layers": layers}


def read_snapshot(path: Path) -> dict[str, Any]:
    """A stored snapshot, checked for its shape and format; one of a newer or unknown format is refused."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"snapshot {path} cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise SnapshotError(f"snapshot {path} is not valid JSON ({error}); delete it or pass --update-snapshot") from None
    except RecursionError:  # the decoder recurses once per level of nesting
        raise SnapshotError(
            f"{path} is not a cnnstat snapshot: its JSON is nested too deeply to read; delete it or pass --update-snapshot"
        ) from None
    if not isinstance(document, dict):
        raise SnapshotError(f"{path} is not a cnnstat snapshot: it has no list of layers")
    # the format first: a newer cnnstat may store its layers differently, and must be named as newer, not as foreign
    version = check_format(document.get("format", 1), FORMAT, path, "snapshot", SnapshotError)
    if not isinstance(document.get("layers"), list):
        raise SnapshotError(f"{path} is not a cnnstat snapshot: it has no list of layers")
    for index, layer in enumerate(document["layers"]):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str) or not isinstance(layer.get("type"), str):
            raise SnapshotError(f"{path}: layer {index} is not an object with a name and a type")
        if version == 1:  # fvcore and lenet FLOPs were fields of their own
            layer["flops"] = {name: layer.pop(name) for name in ("fvcore", "lenet") if name in layer}
        problem = _layer_problem(layer)
        if problem is not None:
            raise SnapshotError(f"{path}: layer {index} ({layer['name']}): {problem}; delete it or pass --update-snapshot")
    return document


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _layer_problem(layer: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a stored layer that the comparison reads, or None: each must have the type written."""
    for name in _NUMBERS:
        if name in layer and (isinstance(layer[name], bool) or not isinstance(layer[name], int | float)):
            return f"{name} is {reprlib.repr(layer[name])}, not a number"
    for name in _SHAPES:
        shape = layer.get(name)
        if shape is not None and not (isinstance(shape, list) and all(_is_int(size) for size in shape)):
            return f"{name} is {reprlib.repr(shape)}, not a list of integers"
    flops = layer.get("flops", {})
    if not isinstance(flops, dict):
        return f"flops is {reprlib.repr(flops)}, not an object of integers by convention"
    for convention, value in flops.items():
        if not _is_int(value):
            return f"flops of convention {convention!r} is {reprlib.repr(value)}, not an integer"
    return None


def _keys(layers: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return call_keys(layer["name"] for layer in layers)


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its FLOPs per convention as fields of their own: ``flops[lenet]``."""
    flat = {key: value for key, value in row.items() if key != "flops"}
    flat.update({f"flops[{name}]": value for name, value in row.get("flops", {}).items()})
    return flat


def diff_snapshots(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(differences as "layer L: field old → new", fields measured now that the old snapshot does not have)."""
    old_rows = {key: _flatten(row) for key, row in zip(_keys(old["layers"]), old["layers"], strict=True)}
    new_rows = {key: _flatten(row) for key, row in zip(_keys(new["layers"]), new["layers"], strict=True)}
    differences, new_fields = [], set()
    for key, row in new_rows.items():
        label = key[0] if key[1] == 1 else f"{key[0]} (call {key[1]})"
        if key not in old_rows:
            differences.append(f"layer {label}: added ({row['type']})")
            continue
        stored = old_rows[key]
        for name, after in row.items():
            if name not in stored:
                new_fields.add(name)
            elif stored[name] != after:
                differences.append(f"layer {label}: {name} {_show(stored[name])} → {_show(after)}")
    for key, row in old_rows.items():
        if key not in new_rows:
            differences.append(f"layer {key[0]}: removed ({row['type']})")
    return differences, sorted(new_fields)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return format_shape(tuple(value))
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def compare_snapshot(report: Report, directory: Path, update: bool = False) -> SnapshotResult:
    """Write the snapshot the first time; afterwards compare (or, with ``update``, rewrite)."""
    path = snapshot_path(directory, report)
    document = snapshot_document(report)
    text = json.dumps(document, indent=1) + "\n"
    if not path.exists():
        write_atomically(path, text)
        return SnapshotResult(path, "written")
    try:
        stored = read_snapshot(path)
    except SnapshotError:
        if not update:
            raise
        # --update-snapshot is the way out that the error names, so a broken old file must not block it
        write_atomically(path, text)
        return SnapshotResult(path, "updated", ("replaced a file that could not be read as a snapshot",))
    differences, new_fields = diff_snapshots(stored, document)
    if update and (differences or new_fields):
        write_atomically(path, text)
        return SnapshotResult(path, "updated", tuple(differences), tuple(new_fields))
    return SnapshotResult(path, "changed" if differences else "unchanged", tuple(differences), tuple(new_fields))
