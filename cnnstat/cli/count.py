"""``cnnstat summary``, ``flops`` and ``models``: thin commands over ``cnnstat.analyze`` and the zoo."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import CnnstatError
from .app import (
    DEFAULT_CONVENTION_NAME,
    DEFAULT_OPTIMIZER_NAME,
    BatchOpt,
    ConventionOpt,
    ExplainOpt,
    FormatOpt,
    InputOpt,
    ModelArg,
    OptimizerOpt,
    OutOpt,
    TimeoutOpt,
    TrainModeOpt,
    app,
    user_errors,
)
from .output import Format, emit, stderr_console, write_text

ColumnsOpt = Annotated[
    str | None, typer.Option("--columns", help="Comma-separated columns of the table (any field of --format json's layers).")
]
DepthOpt = Annotated[int | None, typer.Option("--depth", min=1, help="Group rows by module hierarchy, N levels deep (totals unchanged).")]


class GroupBy(str, Enum):
    layer = "layer"
    type = "type"


ByOpt = Annotated[GroupBy, typer.Option("--by", help="layer: a row per layer call; type: a row per layer type.")]
SortOpt = Annotated[str | None, typer.Option("--sort", help="Sort rows by this column, largest first (e.g. macs, flops, params).")]
TopOpt = Annotated[
    int | None, typer.Option("--top", min=1, help="Show only the costliest K rows: by --sort, else by the table's main figure "
                             "(MACs for summary, FLOPs for flops); stderr says how many are hidden."),
]  # fmt: skip


def report_for(model: str, inputs: list[str] | None, batch: int, convention: Any, optimizer: Any, timeout: float | None,
               train: bool = False) -> Any:  # fmt: skip
    """Analyse ``model`` at the given ``--input`` values (or its own) with the chosen convention, optimizer and mode."""
    from ..api import analyze
    from ..counting.inputs import fitting_notes, parse_input, shape_hint
    from ..errors import InputShapeError, TraceError
    from ..fast_start import counting_shortcuts

    specs = [parse_input(text) for text in inputs or []]
    try:
        with counting_shortcuts():  # the model is built, traced and dropped inside: it never leaves the command
            report = analyze(model, specs or None, batch=batch, convention=convention.value, optimizer=optimizer.value,
                             train=train, timeout=timeout)  # fmt: skip
    except (InputShapeError, TraceError) as error:  # a batch-included or channels-last shape gets a hint
        raise type(error)(f"{error}{shape_hint(specs)}") from None
    for note in fitting_notes(specs, [meta.shape for _, meta in report.inputs]):
        stderr_console().print(note, markup=False, soft_wrap=True)
    return report


def _columns(text: str | None) -> tuple[str, ...] | None:
    """The columns ``--columns`` names, checked against the registry before any counting."""
    from ..counting.columns import COLUMN

    if text is None:
        return None
    chosen = tuple(c.strip() for c in text.split(",") if c.strip())
    if not chosen:
        raise CnnstatError("--columns names no column; give them separated by commas, e.g. name,macs,flops")
    unknown = [c for c in chosen if c not in COLUMN]
    if unknown:
        raise CnnstatError(f"unknown column {', '.join(unknown)}; choose from {', '.join(COLUMN)}")
    return chosen


def view_of(report: Any, depth: int | None, by: GroupBy, sort: str | None, top: int | None, main: str = "flops") -> Any:
    """The rows to show: grouped by hierarchy or type, sorted, the costliest K (by ``main`` unless sorted otherwise)."""
    from ..counting import views
    from ..counting.columns import COLUMN

    if depth is not None and by is GroupBy.type:
        raise CnnstatError("--depth and --by type group rows two different ways: choose one")
    view = views.by_type(report) if by is GroupBy.type else views.by_depth(report, depth) if depth else report
    shown = view
    if sort is not None:
        if sort not in COLUMN:
            raise CnnstatError(f"cannot sort by {sort!r}; choose one of {', '.join(COLUMN)}")
        view = views.top(view, "flops" if sort == "share" else sort, top)  # a row's share is its FLOPs over the total
    elif top is not None:  # the costliest K by the table's main figure
        view = views.top(view, main, top)
    hidden = len(shown.layers) - len(view.layers)
    if hidden:
        stderr_console().print(f"showing the costliest {len(view.layers)} of {len(shown.layers)} rows by {sort or main}; "
                               f"{hidden} hidden (totals are the whole model's)")  # fmt: skip
    return view


def show_report(report: Any, view: Any, fmt: Format, tables: Callable[[Any, Any], list[Any]], explain: bool,
                out: Path | None, columns: tuple[str, ...] | None, kind: str = "flops") -> None:  # fmt: skip
    """Tables of the view's rows with the whole report's footer (and formulas), or the view as JSON, CSV or Markdown."""
    from ..report.tables import explain_lines, footer_lines, machine_rows, review_text

    if fmt is Format.table:
        lines = footer_lines(report) + ([""] + explain_lines(view) if explain else [])
        emit(fmt, renderables=[*tables(view, report), *lines], out=out)
    elif fmt in (Format.csv, Format.markdown):  # the table's columns, as the table shows them (report/tables.py)
        write_text(review_text(kind, view, report, fmt.value, columns), out)
    else:
        # the rows shown; everything else (totals, depth, uncounted ops, receptive field) of the whole model
        document = {**report.to_dict(), "layers": machine_rows(view, report, columns)}
        emit(fmt, document=document, out=out)


@app.command()
@user_errors
def summary(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    format: FormatOpt = Format.table,
    convention: ConventionOpt = DEFAULT_CONVENTION_NAME,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER_NAME,
    columns: ColumnsOpt = None,
    depth: DepthOpt = None,
    by: ByOpt = GroupBy.layer,
    sort: SortOpt = None,
    top: TopOpt = None,
    explain: ExplainOpt = False,
    train: TrainModeOpt = False,
    timeout: TimeoutOpt = None,
    out: OutOpt = None,
) -> None:
    """Layer table: shapes, parameters, MACs and connections, with totals, backward MACs and training memory."""
    from ..report.tables import summary_tables

    chosen = _columns(columns)
    report = report_for(model, input, batch, convention, optimizer, timeout, train)
    view = view_of(report, depth, by, sort, top, "macs")
    show_report(report, view, format, lambda v, r: summary_tables(v, r, chosen), explain, out, chosen, "summary")


@app.command()
@user_errors
def flops(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    format: FormatOpt = Format.table,
    convention: ConventionOpt = DEFAULT_CONVENTION_NAME,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER_NAME,
    columns: ColumnsOpt = None,
    depth: DepthOpt = None,
    by: ByOpt = GroupBy.layer,
    sort: SortOpt = None,
    top: TopOpt = None,
    explain: ExplainOpt = False,
    train: TrainModeOpt = False,
    timeout: TimeoutOpt = None,
    out: OutOpt = None,
) -> None:
    """FLOPs per layer and per layer type under a named convention."""
    from ..report.tables import flops_tables

    chosen = _columns(columns)
    report = report_for(model, input, batch, convention, optimizer, timeout, train)
    view = view_of(report, depth, by, sort, top)
    show_report(report, view, format, lambda v, r: flops_tables(v, r, chosen), explain, out, chosen)


@app.command()
@user_errors
def models(
    pattern: Annotated[str, typer.Argument(help="Shell wildcard, e.g. 'res*'.")] = "*",
    torchvision: Annotated[bool, typer.Option("--torchvision", help="Also list every torchvision model, by family.")] = False,
    source: Annotated[list[str] | None, typer.Option(
        "--source", help="Also list this source's models: timm, hf, torchvision or zoo.")] = None,
    format: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """List models with their default input, parameter count, source and published figures."""
    from ..fast_start import counting_shortcuts
    from ..report.text import table
    from ..zoo.listing import model_rows

    with counting_shortcuts(), stderr_console().status("listing models…") as status:  # built on meta and dropped here
        rows = model_rows(pattern, [*(source or []), *(["torchvision"] if torchvision else [])], progress=status.update)
    if not rows:
        raise CnnstatError(f"no model matches {pattern!r}")
    table_rows = [
        (row["name"], ", ".join(row["aliases"]), row["family"], row["source"], "; ".join(row["published"]), row["input"],
         f"{row['params']:,}")
        for row in rows
    ]  # fmt: skip
    headers = ("Name", "Aliases", "Family", "Source", "Published", "Input", "Params")
    rendered = table("Models", headers, table_rows, 2)
    emit(format, document=rows, rows=[{**row, "aliases": ", ".join(row["aliases"]), "published": "; ".join(row["published"])}
                                      for row in rows], renderables=[rendered], out=out)  # fmt: skip
