"""``cnnstat compare``: several models side by side, one row each, and their cost per stage as a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..counting.columns import COLUMN
from ..errors import CnnstatError
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
from .output import Format, emit, format_shape, stderr_console, table

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


def type_table(reports: list[Any]) -> Any:
    """Per layer type, each model's calls, parameters and MACs: where two builds of a network differ (LRN or batch
    norm, grouped convolutions, auxiliary heads), the rows show it."""
    types: dict[str, list[list[int]]] = {}  # per type, per model (by position: a model may be named twice) calls, params, MACs
    for index, report in enumerate(reports):
        for layer in report.layers:
            figures = types.setdefault(layer.type, [[0, 0, 0] for _ in reports])[index]
            figures[0] += 1
            figures[1] += layer.params
            figures[2] += layer.macs
    headers = ("Type", *(f"{report.model} {what}" for report in reports for what in ("calls", "params", "MACs")))
    rows = [(kind, *(f"{value:,}" for figures in per_model for value in figures)) for kind, per_model in types.items()]
    return table("By layer type", headers, rows, len(headers) - 1)


def _scale(value: float) -> tuple[float, str]:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            return factor, prefix
    return 1.0, ""


def plot_stages(reports: list[Any], path: Path) -> None:
    """Each model's FLOPs per stage (its top-level modules), under the reports' convention, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..atomic import atomic_path
    from ..counting.views import by_depth

    figure, axes = plt.subplots(len(reports), 1, figsize=(9, 2.2 + 0.35 * max(len(by_depth(r, 1).layers) for r in reports) * len(reports)),
                                squeeze=False)  # fmt: skip
    for axis, report in zip(axes[:, 0], reports, strict=True):
        stages = [row for row in by_depth(report, 1).layers if row.flops]
        factor, prefix = _scale(max((row.flops for row in stages), default=0))
        axis.barh([row.name for row in stages][::-1], [row.flops / factor for row in stages][::-1], color="#4477aa")
        axis.set_title(f"{report.model} · {report.totals['flops']:,} FLOPs ({report.convention})", loc="left", fontsize=10)
        axis.set_xlabel(f"{prefix}FLOPs per stage")
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    suffix = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format=suffix)
    plt.close(figure)


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
        Path | None, typer.Option("--plot", help="Also draw each model's FLOPs per stage into this PNG (or SVG, PDF).")
    ] = None,
    out: OutOpt = None,
) -> None:
    """One row per model: parameters, MACs, FLOPs, connections, neurons, memory, depth, receptive field."""
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
    renderables = [table(title, HEADERS, [_cells(r) for r in rows], 10)] + ([type_table(reports)] if len(reports) > 1 else [])
    emit(format, document=rows, rows=rows, renderables=renderables, out=out)
    if plot is not None:
        plot_stages(reports, plot)
        err.print(f"wrote {plot}")
