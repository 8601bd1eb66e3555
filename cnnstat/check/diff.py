"""Two snapshot documents set side by side: the layers added, removed or changed, and the totals' change.

The same diff serves ``check`` on a snapshot change, ``cnnstat diff`` and the pytest plugin's failure
messages; it reads text lines or a Markdown comment for a pull request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..counting.columns import COLUMN, Unit
from ..counting.conventions import DEFAULT_CONVENTION
from ..counting.records import format_shape
from .comparison import call_keys

#: The fields a pull-request comment gives a column of their own (and FLOPs under the default convention).
MAIN_FIELDS = ("output_shape", "params", "macs", "receptive_field")


@dataclass(frozen=True)
class Change:
    """One field of a layer (or of the totals) before and after."""

    name: str
    old: Any
    new: Any

    @property
    def percent(self) -> float | None:
        """The change in % of the old value, for numbers; None for shapes, text and a zero before."""
        if isinstance(self.old, bool) or not isinstance(self.old, int | float) or not isinstance(self.new, int | float):
            return None
        return None if self.old == 0 else 100 * (self.new - self.old) / self.old

    def text(self, headers: bool = False) -> str:
        """``params 608 → 224 (-63.2%)``; with ``headers``, named as the table's columns: ``Params 608 → 224 (-63.2%)``."""
        percent = self.percent
        name = header(self.name) if headers else self.name
        return f"{name} {show(self.name, self.old)} → {show(self.name, self.new)}" + (
            "" if percent is None else f" ({percent:+.1f}%)"
        )


@dataclass(frozen=True)
class LayerChange:
    """A layer added, removed, or with changed fields."""

    label: str
    type: str
    kind: str  # "added", "removed" or "changed"
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class SnapshotDiff:
    """Every change between two snapshot documents."""

    totals: tuple[Change, ...]
    layers: tuple[LayerChange, ...]
    new_fields: tuple[str, ...]  # measured in the new one, absent from the old: not compared

    def lines(self) -> list[str]:
        """One line per change: ``layer conv1: params 608 → 224 (-63.2%)``."""
        lines = []
        for layer in self.layers:
            if layer.kind == "changed":
                lines += [f"layer {layer.label}: {change.text()}" for change in layer.changes]
            else:
                lines.append(f"layer {layer.label}: {layer.kind} ({layer.type})")
        return lines


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its FLOPs per convention as fields of their own: ``flops[lenet]``."""
    flat = {key: value for key, value in row.items() if key != "flops"}
    flat.update({f"flops[{name}]": value for name, value in row.get("flops", {}).items()})
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _totals(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for row in rows:
        for name, value in row.items():
            if _is_number(value):
                totals[name] = totals.get(name, 0) + value
    return totals


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> SnapshotDiff:
    """The changes from ``old`` to ``new``; a layer called several times is told apart by its call number."""
    old_rows = {key: flatten(row) for key, row in zip(call_keys(r["name"] for r in old["layers"]), old["layers"], strict=True)}
    new_rows = {key: flatten(row) for key, row in zip(call_keys(r["name"] for r in new["layers"]), new["layers"], strict=True)}
    layers, new_fields = [], set()
    for key, row in new_rows.items():
        label = key[0] if key[1] == 1 else f"{key[0]} (call {key[1]})"
        if key not in old_rows:
            layers.append(LayerChange(label, row["type"], "added"))
            continue
        stored = old_rows[key]
        new_fields |= {name for name in row if name not in stored}
        changes = tuple(
            Change(name, stored[name], after) for name, after in row.items() if name in stored and stored[name] != after
        )
        if changes:
            layers.append(LayerChange(label, row["type"], "changed", changes))
    layers += [LayerChange(key[0], row["type"], "removed") for key, row in old_rows.items() if key not in new_rows]
    before, after = _totals(old_rows.values()), _totals(new_rows.values())
    totals = tuple(Change(name, before[name], after[name]) for name in after if name in before and before[name] != after[name])
    return SnapshotDiff(totals, tuple(layers), tuple(sorted(new_fields)))


def show(name: str, value: Any) -> str:
    """A value as the table prints its column: shapes as 1×3×32×32, bytes in KiB/MiB, counts with separators."""
    if isinstance(value, list):
        return format_shape(tuple(value))
    column = COLUMN.get(name.split("[")[0])
    if column is not None and column.unit is Unit.BYTES and _is_number(value):
        return column.format(value)
    return f"{value:,}" if _is_number(value) else str(value)


def header(name: str) -> str:
    """A stored field's column header: ``macs`` -> ``MACs``, ``flops[lenet]`` -> ``FLOPs (lenet)``."""
    base, _, convention = name.partition("[")
    column = COLUMN.get(base)
    title = column.header if column is not None else base
    return f"{title} ({convention.rstrip(']')})" if convention else title


def _change_cell(change: Change) -> str:
    """``448 → 1,216 (+171.4%)``."""
    percent = "" if change.percent is None else f" ({change.percent:+.1f}%)"
    return _cell(f"{show(change.name, change.old)} → {show(change.name, change.new)}{percent}")


def _cell(text: str) -> str:
    """Text that a Markdown table cell shows as written."""
    return text.replace("|", "\\|")


def markdown(diff: SnapshotDiff, title: str) -> str:
    """A pull-request comment: a title, the totals' change first, then only the layers that changed."""
    parts = [f"### {_cell(title)}", ""]
    if not diff.totals and not diff.layers:
        return "\n".join([*parts, "No change.", ""])
    if diff.totals:
        parts += ["| Total | Before | After | Change |", "|---|--:|--:|--:|"]
        for change in diff.totals:
            percent = "" if change.percent is None else f"{change.percent:+.1f}%"
            parts.append(
                f"| {_cell(header(change.name))} | {show(change.name, change.old)} | {show(change.name, change.new)} | {percent} |"
            )
        parts.append("")
    if diff.layers:
        main = (*MAIN_FIELDS, f"flops[{DEFAULT_CONVENTION}]")
        parts += [f"{len(diff.layers)} layer(s) changed:", "",
                  "| Layer | Type | " + " | ".join(header(name) for name in main) + " | Also changed |",
                  "|---|---|" + "--:|" * len(main) + "---|"]  # fmt: skip
        for layer in diff.layers:
            changed = {change.name: change for change in layer.changes}
            cells = [_change_cell(changed[name]) if name in changed else "" for name in main]
            rest = ", ".join(header(name) for name in changed if name not in main) or ""
            if layer.kind != "changed":
                cells, rest = ["" for _ in main], layer.kind
            parts.append(f"| {_cell(layer.label)} | {_cell(layer.type)} | " + " | ".join(cells) + f" | {_cell(rest)} |")
        parts.append("")
    if diff.new_fields:
        parts += [f"Not in the older snapshot, not compared: {', '.join(diff.new_fields)}.", ""]
    return "\n".join(parts)
