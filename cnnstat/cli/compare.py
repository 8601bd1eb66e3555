"""``cnnstat compare``: several models side by side, one row each, and their cost per stage as a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..counting.columns import COLUMN
from ..counting.records import format_shape
from ..errors import CnnstatError
from ..report.text import needed_width, stdout_console, table
from .app import (
    DEFAULT_CONVENTION_NAME,
    DEFAULT_OPTIMIZER_NAME,
    BatchOpt,
    ConventionOpt,
    FormatOpt,
    InputOpt,
    OptimizerOpt,
    OutOpt,
    TimeoutOpt,
    TrainModeOpt,
    app,
    user_errors,
)
from .count import report_for
from .output import Format, emit, stderr_console

#: What one model's row shows: its name and inputs, then figures of the column registry (totals, and the
#: receptive field of its output), and its depth (layers with parameters).
COLUMNS = ("model", "input", "params", "macs", "flops", "connections", "neurons", "backward_macs", "activation_bytes",
           "training_bytes", "depth", "receptive_field")  # fmt: skip
_OWN_HEADERS = {"model": "Model", "input": "Input"}


def comparison_row(report: Any) -> dict[str, Any]:
    """One model's figures: totals, depth (layers with parameters) and the receptive field of its output."""
    totals = report.totals
    row = {"model": report.model, "input": ", ".join(format_shape(meta.shape) for _, meta in report.inputs)}
    row.update({key: totals[key] for key in COLUMNS if key in totals})
    row["depth"] = report.depth
    row["receptive_field"] = list(report.receptive_field) if report.receptive_field else None
    return row


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(row[key] if key in _OWN_HEADERS else COLUMN[key].format(row[key]) for key in COLUMNS)


HEADERS = tuple(_OWN_HEADERS.get(key) or COLUMN[key].header for key in COLUMNS)


def wide_or_stacked(rows: list[dict[str, Any]], title: str) -> Any:
    """One row per model where that fits the terminal; else one row per figure and a column per model."""
    wide = table(title, HEADERS, [_cells(r) for r in rows], 10)
    if len(rows) < 2 or needed_width(wide) <= stdout_console().width:
        return wide
    stacked = [(header, *(row[key] if key in _OWN_HEADERS else COLUMN[key].format(row[key]) for row in rows))
               for key, header in zip(COLUMNS[1:], HEADERS[1:], strict=True)]  # fmt: skip
    return table(title, ("", *(row["model"] for row in rows)), stacked, len(rows))


def type_tables(reports: list[Any]) -> list[Any]:
    """Per layer type, each model's calls, parameters and MACs, a table per figure with a column per model (types of none
    left out): where two
    builds of a network differ (LRN or batch norm, grouped convolutions, auxiliary heads), the rows show it."""
    from ..counting.views import type_key

    names: dict[str, str] = {}  # a module's class names its type (ReLU), else the first functional call (relu)
    figures: dict[str, list[list[int]]] = {}  # per type key, per model (by position: a model may be named twice)
    for index, report in enumerate(reports):
        for layer in report.layers:
            key = type_key(layer.type)
            if key not in names or layer.is_module and not names[key][0].isupper():
                names[key] = layer.type
            counts = figures.setdefault(key, [[0, 0, 0] for _ in reports])[index]
            counts[0] += 1
            counts[1] += layer.params
            counts[2] += layer.macs
    headers = ("Type", *(report.model for report in reports))
    return [
        table(f"{what} by layer type", headers,
              [(names[key], *(f"{counts[position]:,}" for counts in per_model)) for key, per_model in figures.items()
               if any(counts[position] for counts in per_model)],  # a type that adds nothing to any model is left out
              len(reports))
        for position, what in enumerate(("Calls", "Parameters", "MACs"))
    ]  # fmt: skip


@app.command()
@user_errors
def compare(
    models: Annotated[list[str], typer.Argument(help="The models to put side by side (names as for summary).")],
    input: InputOpt = None,
    batch: BatchOpt = 1,
    convention: ConventionOpt = DEFAULT_CONVENTION_NAME,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER_NAME,
    format: FormatOpt = Format.table,
    train: TrainModeOpt = False,
    timeout: TimeoutOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw the models side by side (params, MACs, memory, MACs by stage) into this PNG, SVG or PDF."
        ),
    ] = None,
    profile: Annotated[
        bool, typer.Option("--profile", help="Also time each model's forward on this machine: latency and images/s.")
    ] = False,
    out: OutOpt = None,
) -> None:
    """One row per model: parameters, MACs, FLOPs, connections, neurons, memory, depth, receptive field.

    Depth is the number of layers with parameters that ran (convolutions, linear layers, norms); the receptive field
    is that of the model's output.
    """
    from ..atomic import check_file_writable

    if plot is not None:
        if plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise CnnstatError(f"--plot {plot}: name a .png, .svg or .pdf file")
        check_file_writable(plot)  # before minutes of counting, not after
    err = stderr_console()
    reports = []
    for name in models:
        with err.status(f"counting {name}…"):
            reports.append(report_for(name, input, batch, convention, optimizer, timeout, train))
    rows = [comparison_row(report) for report in reports]
    title = f"Compared · FLOPs ({convention.value}) · training memory with {optimizer.value}, batch {batch}"
    renderables = [wide_or_stacked(rows, title), "Depth: layers with parameters that ran (convolutions, linear layers, norms).",
                   *(type_tables(reports) if len(reports) > 1 else [])]  # fmt: skip
    if profile:
        from ..profile.run import measure_latency
        from .profile import latency_table

        for row, report in zip(rows, reports, strict=True):
            with err.status(f"timing {report.model}…"):
                row.update(measure_latency(report.model, report.input_shape))
        renderables.append(latency_table(rows))
    emit(format, document=rows, rows=rows, renderables=renderables, out=out)
    if plot is not None:
        from ..report.plots import comparison_figure, save_figure

        latencies = [row["latency_ms"] for row in rows] if profile else None
        save_figure(comparison_figure(reports, latencies), plot, f"cnnstat compare {' '.join(models)}")
        err.print(f"wrote {plot}")
