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
from ..counting.report import Report
from ..errors import CnnstatError
from ..formats import check_format
from .diff import SnapshotDiff, diff_documents

FORMAT = 2  # 1: cnnstat 0.1 (fvcore and lenet FLOPs as their own fields)
_STORED = tuple(column for column in ROW_COLUMNS if column.stored)
_NUMBERS = tuple(c.name for c in _STORED if c.unit in (Unit.COUNT, Unit.BYTES) and c.source is not Source.CONVENTION)
_SHAPES = tuple(c.name for c in _STORED if c.unit in (Unit.SHAPE, Unit.EXTENT))


class SnapshotError(CnnstatError):
    """A snapshot file that cannot be read as one."""


#: How a snapshot is written on purpose: in CI (``CI`` set) or with ``--frozen`` nothing else writes one.
UPDATE_HINT = "--update-snapshot"
#: What ``cnnstat check`` tells a user to do about a broken snapshot; other callers name their own way out.
CHECK_REMEDY = f"delete it or pass {UPDATE_HINT}"


@dataclass(frozen=True)
class SnapshotResult:
    """What comparing a report with its snapshot found."""

    path: Path
    status: str  # "written", "updated", "unchanged", "changed" or "missing" (frozen: not written)
    differences: tuple[str, ...] = ()
    new_fields: tuple[str, ...] = ()  # measured now, not in the stored snapshot: not compared
    diff: SnapshotDiff | None = None
    stored: dict[str, Any] | None = None  # the snapshot as it was read, for budgets' "grew most"

    @property
    def failed(self) -> bool:
        """A change not asked for, or a snapshot missing where none may be written."""
        return self.status in ("changed", "missing")


def snapshot_path(directory: Path, report: Report, key: str | None = None) -> Path:
    """``DIR/<key>@<C>x<H>x<W>.json``; several inputs are joined with ``+``; a batch other than 1 is kept.

    ``key`` is the model's identity (``check/identity.py``), by default the report's model name.
    """
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", key or report.model).strip("_")
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


def read_snapshot(path: Path, remedy: str | None = None) -> dict[str, Any]:
    """A stored snapshot, checked for its shape and format; one of a newer or unknown format is refused.

    ``remedy`` ends the message of a file broken in a way a rewrite repairs, in the caller's terms.
    """
    tail = f"; {remedy}" if remedy else ""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"snapshot {path} cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise SnapshotError(f"snapshot {path} is not valid JSON ({error}){tail}") from None
    except RecursionError:  # the decoder recurses once per level of nesting
        raise SnapshotError(f"{path} is not a cnnstat snapshot: its JSON is nested too deeply to read{tail}") from None
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
            raise SnapshotError(f"{path}: layer {index} ({layer['name']}): {problem}{tail}")
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


def compare_snapshot(report: Report, directory: Path, update: bool = False, *, key: str | None = None,
                     frozen: bool = False, remedy: str = CHECK_REMEDY) -> SnapshotResult:  # fmt: skip
    """Write the snapshot the first time (unless ``frozen``: then it is missing); afterwards compare, or with ``update`` rewrite.

    ``remedy`` is what a broken snapshot's error tells the user to do, in the caller's terms.
    """
    path = snapshot_path(directory, report, key)
    document = {**snapshot_document(report), "model": key or report.model}  # the same file from any folder
    text = json.dumps(document, indent=1) + "\n"
    if not path.exists():
        if frozen and not update:
            return SnapshotResult(path, "missing", (f"no snapshot {path}: create it with {UPDATE_HINT} and commit it",))
        write_atomically(path, text)
        return SnapshotResult(path, "written")
    try:
        stored = read_snapshot(path, remedy)
    except SnapshotError:
        if not update:
            raise
        # updating is the way out that the error names, so a broken old file must not block it
        write_atomically(path, text)
        return SnapshotResult(path, "updated", ("replaced a file that could not be read as a snapshot",))
    diff = diff_documents(stored, document)
    differences, new_fields = tuple(diff.lines()), diff.new_fields
    if update and (differences or new_fields):
        write_atomically(path, text)
        return SnapshotResult(path, "updated", differences, new_fields, diff, stored)
    return SnapshotResult(path, "changed" if differences else "unchanged", differences, new_fields, diff, stored)
