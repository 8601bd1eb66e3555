"""``cnnstat summary``, ``flops`` and ``models``: thin commands over ``cnnstat.analyze`` and the zoo."""

from __future__ import annotations

from collections.abc import Callable
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
    app,
    user_errors,
)
from .output import Format, emit

ColumnsOpt = Annotated[
    str | None, typer.Option("--columns", help="Comma-separated columns of the table (any field of --format json's layers).")
]


def report_for(model: str, inputs: list[str] | None, batch: int, convention: Any, optimizer: Any) -> Any:
    """Analyse ``model`` at the given ``--input`` values (or its own) with the chosen convention and optimizer."""
    from ..api import analyze
    from ..counting.inputs import parse_input

    specs = [parse_input(text) for text in inputs or []]
    return analyze(model, specs or None, batch=batch, convention=convention.value, optimizer=optimizer.value)


def _columns(text: str | None, report: Any) -> tuple[str, ...] | None:
    from .report_view import available_columns

    if not text:
        return None
    chosen = tuple(c.strip() for c in text.split(",") if c.strip())
    known = available_columns(report)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise CnnstatError(f"unknown column {', '.join(unknown)}; choose from {', '.join(known)}")
    return chosen


def show_report(report: Any, fmt: Format, tables: Callable[[Any], list[Any]], explain: bool, out: Path | None) -> None:
    """Tables with the footer (and formulas), or the report as JSON, CSV or Markdown."""
    from .report_view import explain_lines, footer_lines

    if fmt is Format.table:
        lines = footer_lines(report) + ([""] + explain_lines(report) if explain else [])
        emit(fmt, renderables=[*tables(report), *lines], out=out)
    else:
        emit(fmt, document=report.to_dict(), rows=[layer.row() for layer in report.layers], out=out)


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
    explain: ExplainOpt = False,
    out: OutOpt = None,
) -> None:
    """Layer table: shapes, parameters, MACs and connections, with totals."""
    from .report_view import summary_tables

    report = report_for(model, input, batch, convention, optimizer)
    chosen = _columns(columns, report)
    show_report(report, format, lambda r: summary_tables(r, chosen), explain, out)


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
    explain: ExplainOpt = False,
    out: OutOpt = None,
) -> None:
    """FLOPs per layer and per layer type under a named convention."""
    from .report_view import flops_tables

    report = report_for(model, input, batch, convention, optimizer)
    chosen = _columns(columns, report)
    show_report(report, format, lambda r: flops_tables(r, chosen), explain, out)


@app.command()
@user_errors
def models(
    pattern: Annotated[str, typer.Argument(help="Shell wildcard, e.g. 'res*'.")] = "*",
    torchvision: Annotated[bool, typer.Option("--torchvision", help="Also list every torchvision model, by family.")] = False,
    format: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """List models with their default input, parameter count, source and published figures."""
    from ..zoo.listing import model_rows
    from .output import table

    rows = model_rows(pattern, include_torchvision=torchvision)
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
