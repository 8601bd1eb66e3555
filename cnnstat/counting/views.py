"""Views of a report: rows grouped by module hierarchy or by layer type, sorted, the costliest few.

Each view is a report of its own whose rows add up to the same totals (grouping) or are a subset
(``top``); each column of a group combines its rows' values by the column's aggregate: figures are
summed, a module's output and receptive field are those of its last row, a layer type has none.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .columns import ROW_COLUMNS, Aggregate, Source, counted
from .measures import Measures
from .report import LayerCounts, Report


def _merge(rows: list[LayerCounts], name: str, type_name: str, depth: int, module: str, *, in_order: bool = True) -> LayerCounts:
    """The rows as one, each column combined by its aggregate (``columns.py``): figures summed; shapes and receptive
    field of the first and last rows where ``in_order`` (a module's rows run one after another), none where they are
    scattered over the model (a layer type's)."""
    combined = {
        column: column.aggregate.combine([getattr(row, column.name) for row in rows], in_order, column.empty)
        for column in ROW_COLUMNS if column.aggregate is not Aggregate.NONE
    }  # fmt: skip
    measures = Measures(**{column.name: value for column, value in combined.items() if column.source is Source.MEASURE})
    return replace(
        rows[-1], **{column.name: value for column, value in combined.items() if column.source is not Source.MEASURE},
        name=name, type=type_name, depth=depth, module=module, is_module=True, measures=measures,
        trainable_bytes=sum(r.trainable_bytes for r in rows), called=any(r.called for r in rows), structured=False,
        ops=tuple(op for r in rows for op in r.ops),
    )  # fmt: skip


def by_depth(report: Report, depth: int) -> Report:
    """One row per module at ``depth`` levels of the hierarchy (``layer1``, ``layer1.0`` …); shallower rows kept."""
    groups: dict[object, list[LayerCounts]] = {}
    for index, layer in enumerate(report.layers):
        parts = layer.module.split(".") if layer.module else []
        key: object = ".".join(parts[:depth]) if len(parts) >= depth else ("row", index)
        groups.setdefault(key, []).append(layer)
    rows = []
    for key, members in groups.items():
        if isinstance(key, tuple):
            rows.append(members[0])
        else:
            rows.append(_merge(members, key, report.module_types.get(key, members[0].type), depth, key))
    return replace(report, layers=tuple(rows))


def type_key(type_name: str) -> str:
    """One key for a module and the functional call of the same op: ``ReLU``/``relu``/``relu_``, ``MaxPool2d``/``max_pool2d``."""
    return type_name.lower().replace("_", "")


def type_groups(layers: tuple[LayerCounts, ...]) -> dict[str, list[LayerCounts]]:
    """The rows by layer type, module and functional calls of one op together, named by the module's class where one ran."""
    groups: dict[str, list[LayerCounts]] = {}
    for layer in layers:
        groups.setdefault(type_key(layer.type), []).append(layer)
    return {next((r.type for r in members if r.is_module), members[0].type): members for members in groups.values()}


def by_type(report: Report) -> Report:
    """One row per layer type, named by the type, with how many calls it sums in its type's place (``53 calls``)."""
    rows = [_merge(members, kind, counted(len(members), "call"), 0, "", in_order=False)
            for kind, members in type_groups(report.layers).items()]  # fmt: skip
    return replace(report, layers=tuple(rows))


def calls_of(row: LayerCounts) -> int | None:
    """How many calls a row of ``by_type`` sums (machine formats give it a column of its own), or None for a layer."""
    match = _CALLS.fullmatch(row.type) if row.is_module and not row.module else None
    return int(match.group(1)) if match else None


_CALLS = re.compile(r"(\d+) calls?")


def top(report: Report, column: str, count: int | None) -> Report:
    """The rows sorted by ``column``, largest first; the first ``count`` of them if given."""
    rows = sorted(report.layers, key=lambda layer: _sort_key(getattr(layer, column)), reverse=True)
    return replace(report, layers=tuple(rows[:count] if count else rows))


def _sort_key(value: object) -> tuple[int, object]:
    """Numbers by value, shapes and receptive fields by their size, text alphabetically; nothing last."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, tuple):
        product = 1
        for item in value:
            product *= item if isinstance(item, (int, float)) else 1
        return (1, product)
    return (1, str(value))
