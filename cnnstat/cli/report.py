"""``cnnstat report``: one self-contained HTML file of one model's costs, or several models compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .app import (
    DEFAULT_CONVENTION_NAME,
    DEFAULT_OPTIMIZER_NAME,
    BatchOpt,
    ConventionOpt,
    InputOpt,
    OptimizerOpt,
    TimeoutOpt,
    TrainModeOpt,
    app,
    user_errors,
)
from .count import DepthOpt, report_for
from .graph import ColorOpt, out_file, time_layers
from .output import stderr_console


@app.command()
@user_errors
def report(
    models: Annotated[list[str], typer.Argument(help="One model, or several to compare (names as for summary).")],
    out: Annotated[Path, typer.Option("--out", "-o", callback=out_file(("html", "htm")),
                                      help="The .html file to write: one file, no network needed to open it.")],
    input: InputOpt = None,
    batch: BatchOpt = 1,
    depth: DepthOpt = None,
    color: ColorOpt = None,
    convention: ConventionOpt = DEFAULT_CONVENTION_NAME,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER_NAME,
    train: TrainModeOpt = False,
    timeout: TimeoutOpt = None,
    profile: Annotated[bool, typer.Option("--profile", help="Also time each layer on this machine: a time table, the "
                                                              "roofline, and the diagram shaded by time (cnnstat profile).")] = False,
    check: Annotated[bool, typer.Option("--check", help="Also run cnnstat check's comparisons (fvcore, torch, "
                                                          "torchvision, the paper): its verdicts, explained and mismatched rows.")] = False,
) -> None:  # fmt: skip
    """An offline HTML report: totals, the data-flow diagram, sortable layer table, cost charts (--depth groups the diagram)."""
    from ..atomic import write_atomically
    from ..report.diagram import TIME, check_figure
    from ..report.html import html_report

    color = color or (TIME if profile else "macs")
    check_figure(color, timed=profile)
    err = stderr_console()
    reports = []
    for name in models:
        with err.status(f"counting {name}…"):
            reports.append(report_for(name, input, batch, convention, optimizer, timeout, train))
    profiles = (
        [time_layers(name, counted, batch, train, err) for name, counted in zip(models, reports, strict=True)]
        if profile
        else None
    )
    checks = [check_of(name, input, timeout, err) for name in models] if check else None
    write_atomically(out, html_report(reports, depth=depth, figure=color, profiles=profiles, checks=checks))
    err.print(f"wrote {out}")


def check_of(model: str, inputs: list[str] | None, timeout: float | None, err: Any) -> Any:
    """``cnnstat check``'s comparisons of ``model`` against every reference, at the report's inputs."""
    from ..check import REFERENCES
    from ..check.run import check_model
    from ..counting.inputs import parse_input
    from ..counting.time_limit import time_limit

    with err.status(f"checking {model} against {', '.join(REFERENCES)}…"), time_limit(timeout, model):
        return check_model(model, [parse_input(text) for text in inputs or []], REFERENCES)
