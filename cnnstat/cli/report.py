"""``cnnstat report``: one self-contained HTML file of one model's costs, or several models compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
from .graph import ColorOpt, out_file
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
    color: ColorOpt = "macs",
    convention: ConventionOpt = DEFAULT_CONVENTION_NAME,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER_NAME,
    train: TrainModeOpt = False,
    timeout: TimeoutOpt = None,
    profile: Annotated[bool, typer.Option("--profile", help="Also time each layer on this machine: a time table and "
                                                              "the roofline (cnnstat profile).")] = False,
) -> None:  # fmt: skip
    """An offline HTML report: totals, the data-flow diagram, sortable layer table, cost charts (--depth groups the diagram)."""
    from ..atomic import write_atomically
    from ..report.diagram import check_figure
    from ..report.html import html_report

    check_figure(color)
    err = stderr_console()
    reports = []
    for name in models:
        with err.status(f"counting {name}…"):
            reports.append(report_for(name, input, batch, convention, optimizer, timeout, train))
    profiles = None
    if profile:
        from ..profile.run import profile_model

        profiles = []
        for name, counted in zip(models, reports, strict=True):
            with err.status(f"timing {name}…") as status:
                profiles.append(profile_model(name, input_size=counted.input_shape[1:], batch=batch, train=train,
                                              progress=status.update))  # fmt: skip
    write_atomically(out, html_report(reports, depth=depth, figure=color, profiles=profiles))
    err.print(f"wrote {out}")
