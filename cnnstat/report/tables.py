"""A report as people read it: the layer tables of ``summary`` and ``flops`` (rich, CSV, Markdown), their titles, the
footer of totals, ``--explain``; what the commands print, ``print(report)`` shows and the HTML report lists."""

from __future__ import annotations

from typing import Any, Literal

from rich.console import Group
from rich.table import Table

from ..counting.columns import COLUMN
from ..counting.records import format_shape
from ..counting.report import LayerCounts, Report
from .text import rendered_text, rows_text, table

SUMMARY_COLUMNS = ("name", "type", "input_shape", "output_shape", "params", "macs", "connections")
FLOPS_COLUMNS = ("name", "type", "output_shape", "macs", "flops", "share")


def _cell(layer: LayerCounts, column: str, total_flops: int) -> str:
    if column == "name":
        return layer.name if layer.called else f"{layer.name} (not called)"
    if column == "share":
        return COLUMN["share"].format(layer.flops / (total_flops or 1))
    return COLUMN[column].format(getattr(layer, column))


def _total(column: str, totals: dict[str, int]) -> Any:
    """The total row's value of ``column``: its label, a share of 1, the whole model's sum, or None where nothing adds up."""
    if column == "name":
        return "Total"
    if column == "share":
        return 1
    return totals.get(column)


def _total_cell(column: str, totals: dict[str, int]) -> str:
    value = _total(column, totals)
    return "" if value is None else COLUMN[column].format(value)


def layer_table(report: Report, title: str, columns: tuple[str, ...], totals: dict[str, int] | None = None) -> Table:
    """One row per layer with the chosen columns, and a total row of the summed ones (or of the given ``totals``)."""
    totals = totals or report.totals
    rows = [tuple(_cell(layer, column, totals["flops"]) for column in columns) for layer in report.layers]
    total = tuple(_total_cell(column, totals) for column in columns)
    numeric = len(columns) - max((i + 1 for i, c in enumerate(columns) if COLUMN[c].unit.left_aligned), default=0)
    return table(title, tuple(COLUMN[c].header for c in columns), rows, numeric, total)


def machine_rows(view: Report, full: Report, columns: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """The rows of CSV and JSON: each value in its own column (a type's calls too), share as a fraction of the total."""
    from ..counting.views import calls_of

    total_flops = full.totals["flops"] or 1
    rows = []
    for layer in view.layers:
        row = {**layer.row(), "share": layer.flops / total_flops}
        calls = calls_of(layer)
        if calls is not None:  # a row of --by type: its type is its name, its calls a figure of their own
            row = {"name": layer.name, "type": layer.name, "calls": calls, **{k: v for k, v in row.items() if k not in ("name", "type")}}
        rows.append({column: row[column] for column in columns} if columns else row)
    return rows


def markdown_table(view: Report, full: Report, title: str, columns: tuple[str, ...]) -> str:
    """A Markdown table as the rich one reads: a title, the table's columns formatted as its cells, a total row."""
    totals = full.totals

    def line(cells: Any) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    align = ["---" if COLUMN[column].unit.left_aligned else "--:" for column in columns]
    rows = [line(_cell(layer, column, totals["flops"]) for column in columns) for layer in view.layers]
    total = line(f"**{cell}**" if cell else "" for cell in (_total_cell(column, totals) for column in columns))
    return "\n".join([f"### {title}", "", line(COLUMN[c].header for c in columns), line(align), *rows, total, ""])


def summary_title(report: Report) -> str:
    """The title of ``cnnstat summary``'s table."""
    return f"{report.model} · input {_inputs(report)}"


def flops_title(report: Report) -> str:
    """The title of ``cnnstat flops``' per-layer table."""
    return f"{report.model} · FLOPs ({report.convention}) · input {_inputs(report)}"


def review_text(kind: str, view: Report, full: Report, style: Literal["csv", "markdown"], columns: tuple[str, ...] | None) -> str:
    """CSV or Markdown (``style``: "csv" or "markdown") of ``summary`` or ``flops`` (``kind``): the table's columns (or
    ``columns``), a title and a total row of the whole model. CSV keeps each value in its own column, rounds a share or
    a ratio to 6 digits, writes its title as a ``#`` comment line (``pandas.read_csv(path, comment="#")`` reads it) and
    always has a column that labels each row and the total (``name``, or under ``--by type`` its ``type``), and under
    ``--by type`` each type's calls beside it."""
    chosen = columns or (SUMMARY_COLUMNS if kind == "summary" else FLOPS_COLUMNS)
    title = summary_title(full) if kind == "summary" else flops_title(full)
    if style == "markdown":
        return markdown_table(view, full, title, chosen)
    rows = machine_rows(view, full, None)
    by_type = bool(rows) and "calls" in rows[0]  # a row of --by type: its type is its name
    label = "name" if "name" in chosen else "type" if by_type and "type" in chosen else None
    if label is None:  # what tells one row from another, and names the total row
        label, chosen = "name", ("name", *chosen)
    if by_type:  # a type's calls beside it
        after = max(chosen.index(column) for column in ("name", "type") if column in chosen) + 1
        chosen = (*chosen[:after], "calls", *chosen[after:])
    cells = [{column: COLUMN[column].unit.machine(row[column]) if column in COLUMN else row[column]  # calls: none
              for column in chosen} for row in rows]  # fmt: skip
    total = {column: "" if (value := _total(column, full.totals)) is None else COLUMN[column].unit.machine(value)
             for column in chosen}  # fmt: skip
    return f"# {title}\n" + rows_text([*cells, {**total, label: "Total"}], "csv", list(chosen))


def summary_tables(view: Report, full: Report, columns: tuple[str, ...] | None = None) -> list[Any]:
    """The layer table of ``cnnstat summary``: the rows of ``view``, the totals of the whole model ``full``."""
    return [layer_table(view, summary_title(full), columns or SUMMARY_COLUMNS, full.totals)]


def summary_renderables(report: Report) -> list[Any]:
    """What ``cnnstat summary`` prints of a report: its layer table and the totals under it."""
    return [*summary_tables(report, report), *footer_lines(report)]


def summary_group(report: Report) -> Group:
    """The same as one rich renderable: what a report shows in a rich console or a notebook (``Report.__rich__``)."""
    return Group(*summary_renderables(report))


def summary_text(report: Report) -> str:
    """``cnnstat summary`` of a report as plain text: what ``print(report)`` shows."""
    return rendered_text(summary_renderables(report))


def flops_tables(view: Report, full: Report, columns: tuple[str, ...] | None = None) -> list[Any]:
    """The per-layer and per-type tables of ``cnnstat flops``."""
    per_layer = layer_table(view, flops_title(full), columns or FLOPS_COLUMNS, full.totals)
    report = full
    total_flops = report.totals["flops"] or 1
    by_type: dict[str, list[int]] = {}
    for layer in report.layers:
        calls, type_flops = by_type.get(layer.type, [0, 0])
        by_type[layer.type] = [calls + 1, type_flops + layer.flops]
    flops, share = COLUMN["flops"], COLUMN["share"]
    type_rows = [
        (layer_type, str(calls), flops.format(type_flops), share.format(type_flops / total_flops))
        for layer_type, (calls, type_flops) in sorted(by_type.items(), key=lambda item: -item[1][1])
    ]
    return [per_layer, table("By layer type", ("Type", "Calls", flops.header, share.header), type_rows, 3)]


def _inputs(report: Report) -> str:
    if len(report.inputs) == 1:
        return format_shape(report.input_shape)
    return ", ".join(f"{path} {format_shape(meta.shape)}" for path, meta in report.inputs)


def _outputs(report: Report) -> str:
    if len(report.outputs) <= 1:
        return format_shape(report.output_shape)
    return ", ".join(f"{path} {format_shape(meta.shape)}" for path, meta in report.outputs)


def _convention(name: str) -> str:
    """``lenet convention, the default; -c macs, flops, fvcore`` : a convention's name is not a model's."""
    from ..counting.conventions import CONVENTIONS, DEFAULT_CONVENTION

    others = ", ".join(other for other in CONVENTIONS if other != name)
    return f"{name} convention{', the default' if name == DEFAULT_CONVENTION else ''}; others: -c {others}, docs/conventions.md"


def footer_lines(report: Report) -> list[str]:
    """The totals under a table, one fact a line, each written as its column writes it."""
    totals = {name: COLUMN[name].format(value) for name, value in report.totals.items()}
    frozen = report.totals["params"] - report.totals["trainable_params"]
    lines = [
        f"Total params: {totals['params']} (trainable {totals['trainable_params']}, frozen {frozen:,})",
        f"MACs: {totals['macs']}",
        f"FLOPs ({_convention(report.convention)}): {totals['flops']}",
        f"Connections: {totals['connections']}",
        f"Neurons: {totals['neurons']}",
        f"Parameter memory: {totals['param_bytes']}",
        f"Input: {_inputs(report)}  Output: {_outputs(report)}",
    ]
    if any(note.startswith("no backward figures") for note in report.notes):
        lines.append("Backward MACs and training memory: not available (see the note below)")
    else:
        lines += [
            f"Backward MACs: {totals['backward_macs']}",
            f"Training memory ({report.optimizer}, batch {report.input_shape[0] if report.input_shape else 1}): "
            f"{totals['training_bytes']} (activations {totals['activation_bytes']})",
        ]
    if report.receptive_field:
        lines.append(f"Receptive field of the output: {COLUMN['receptive_field'].format(report.receptive_field)}")
    elif report.receptive_field_unknown:
        lines.append(f"Receptive field of the output: unknown ({report.receptive_field_unknown})")
    lines += [f"Note: {note}" for note in report.notes]
    if report.uncounted:
        ops = sorted({op for _, op in report.uncounted})
        lines.append(f"Uncounted ops ({len(report.uncounted)} calls, not in the totals): {', '.join(ops)}")
    return lines


def explain_lines(report: Report) -> list[str]:
    """Each counted layer's formula with its numbers filled in: closed-form connections, or elementwise work."""
    lines = []
    for layer in report.layers:
        if not layer.formula:
            continue
        if not layer.neurons:  # normalisation, softmax, resampling: their arithmetic per element
            lines.append(f"{layer.name}: {layer.formula} = {layer.elementwise:,} elementwise")
            continue
        line = f"{layer.name}: {layer.formula} = {layer.formula_connections:,}"
        if layer.connections != layer.formula_connections:
            line += f"  (true connections {layer.connections:,}: links onto padding are not connections)"
        lines.append(line)
    return lines
