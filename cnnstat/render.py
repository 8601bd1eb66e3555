"""Rendering a Report: rich tables for people; JSON, CSV and Markdown (through pandas) for machines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.table import Table

from .shapes import format_shape

if TYPE_CHECKING:
    from .analysis import LayerCounts, Report

FORMATS = ("table", "json", "csv", "markdown")
MACHINE_COLUMNS = ("name", "type", "input_shape", "output_shape", "params", "macs", "flops", "connections", "neurons")


def human_bytes(count: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")


def _shape(shape: tuple[int, ...] | None) -> str:
    return format_shape(shape) if shape is not None else "—"


def _name(layer: LayerCounts) -> str:
    return layer.name if layer.input_shape is not None or not layer.params else f"{layer.name} (not called)"


def layer_rows(report: Report) -> list[dict[str, Any]]:
    """Plain per-layer dicts with the JSON field names."""
    return [
        {
            "name": layer.name,
            "type": layer.type,
            "input_shape": list(layer.input_shape) if layer.input_shape is not None else None,
            "output_shape": list(layer.output_shape) if layer.output_shape is not None else None,
            "params": layer.params,
            "macs": layer.macs,
            "flops": report.flops(layer),
            "connections": layer.connections,
            "neurons": layer.neurons,
        }
        for layer in report.layers
    ]


def to_json(report: Report) -> str:
    """The report as one JSON object."""
    totals = report.totals
    document = {
        "model": report.model,
        "input": list(report.input_shape),
        "output_shape": list(report.output_shape) if report.output_shape is not None else None,
        "convention": report.convention,
        "totals": {key: totals[key] for key in ("params", "trainable_params", "macs", "flops", "connections", "neurons")},
        "uncounted": [{"layer": layer, "op": op} for layer, op in report.uncounted],
        "layers": layer_rows(report),
    }
    return json.dumps(document, indent=2)


def to_frame_text(report: Report, fmt: str) -> str:
    """CSV or Markdown of the per-layer rows."""
    import pandas as pd

    frame = pd.DataFrame(layer_rows(report), columns=list(MACHINE_COLUMNS))
    for column in ("input_shape", "output_shape"):
        frame[column] = [format_shape(tuple(s)) if s is not None else "" for s in frame[column]]
    if fmt == "csv":
        return frame.to_csv(index=False)
    return frame.to_markdown(index=False, floatfmt="", intfmt=",") + "\n"


def footer_lines(report: Report) -> list[str]:
    """The totals under a table, one fact a line."""
    totals = report.totals
    frozen = totals["params"] - totals["trainable_params"]
    lines = [
        f"Total params: {totals['params']:,} (trainable {totals['trainable_params']:,}, frozen {frozen:,})",
        f"MACs: {totals['macs']:,}",
        f"FLOPs ({report.convention}): {totals['flops']:,}",
        f"Connections: {totals['connections']:,}",
        f"Neurons: {totals['neurons']:,}",
        f"Parameter memory: {human_bytes(totals['param_bytes'])}",
        f"Input: {format_shape(report.input_shape)}  Output: {_shape(report.output_shape)}",
    ]
    if report.uncounted:
        ops = sorted({op for _, op in report.uncounted})
        lines.append(f"Uncounted ops ({len(report.uncounted)} calls, not in the totals): {', '.join(ops)}")
    return lines


def build_table(
    title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]], numeric: int, total: tuple[str, ...] | None = None
) -> Table:
    """A table whose last ``numeric`` columns are right-aligned and never truncated."""
    table = Table(title=title, title_justify="left")
    all_rows = rows + ([total] if total else [])
    for index, header in enumerate(headers):
        if index >= len(headers) - numeric:
            width = max([len(header)] + [len(row[index]) for row in all_rows])
            table.add_column(header, justify="right", no_wrap=True, min_width=width)
        else:
            table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    if total:
        table.add_section()
        table.add_row(*total, style="bold")
    return table


def summary_table(report: Report) -> Table:
    """The layer table of ``cnnstat summary``."""
    rows = [
        (_name(layer), layer.type, _shape(layer.input_shape), _shape(layer.output_shape),
         f"{layer.params:,}", f"{layer.macs:,}", f"{layer.connections:,}")
        for layer in report.layers
    ]  # fmt: skip
    totals = report.totals
    total = ("Total", "", "", "", f"{totals['params']:,}", f"{totals['macs']:,}", f"{totals['connections']:,}")
    headers = ("Layer", "Type", "Input", "Output", "Params", "MACs", "Connections")
    return build_table(f"{report.model} · input {format_shape(report.input_shape)}", headers, rows, 3, total)


def flops_tables(report: Report) -> tuple[Table, Table]:
    """The per-layer and per-type tables of ``cnnstat flops``."""
    total_flops = report.totals["flops"] or 1
    rows = []
    by_type: dict[str, list[int]] = {}
    for layer in report.layers:
        layer_flops = report.flops(layer)
        rows.append((_name(layer), layer.type, _shape(layer.output_shape), f"{layer.macs:,}", f"{layer_flops:,}",
                     f"{100 * layer_flops / total_flops:.1f}%"))  # fmt: skip
        calls, type_flops = by_type.get(layer.type, [0, 0])
        by_type[layer.type] = [calls + 1, type_flops + layer_flops]
    total = ("Total", "", "", f"{report.totals['macs']:,}", f"{report.totals['flops']:,}", "100.0%")
    title = f"{report.model} · FLOPs ({report.convention}) · input {format_shape(report.input_shape)}"
    per_layer = build_table(title, ("Layer", "Type", "Output", "MACs", "FLOPs", "Share"), rows, 3, total)
    type_rows = [
        (layer_type, str(calls), f"{type_flops:,}", f"{100 * type_flops / total_flops:.1f}%")
        for layer_type, (calls, type_flops) in sorted(by_type.items(), key=lambda item: -item[1][1])
    ]
    per_type = build_table("By layer type", ("Type", "Calls", "FLOPs", "Share"), type_rows, 3)
    return per_layer, per_type


def explain_lines(report: Report) -> list[str]:
    """Each counted layer's formula with its numbers filled in."""
    lines = []
    for layer in report.layers:
        if not layer.formula:
            continue
        line = f"{layer.name}: {layer.formula} = {layer.formula_connections:,}"
        if layer.connections != layer.formula_connections:
            line += f"  (true connections {layer.connections:,}: links onto padding are not connections)"
        lines.append(line)
    return lines
