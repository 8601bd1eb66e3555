"""``cnnstat graph``: the traced data-flow diagram, laid out by Graphviz, shaded by a figure's share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import CnnstatError
from ..report.diagram import FORMATS
from .app import (
    DEFAULT_CONVENTION_NAME,
    DEFAULT_OPTIMIZER_NAME,
    BatchOpt,
    ConventionOpt,
    InputOpt,
    ModelArg,
    OptimizerOpt,
    TimeoutOpt,
    TrainModeOpt,
    app,
    checked_while_parsing,
    user_errors,
)
from .count import DepthOpt, report_for
from .output import stderr_console

ColorOpt = Annotated[
    str | None,
    typer.Option(
        "--color",
        help="Shade nodes by their share of this figure: macs (the default), flops, "
        "params, activation_bytes …, or time (needs --profile).",
    ),
]
ProfileOpt = Annotated[
    bool,
    typer.Option(
        "--profile", help="Also time each layer on this machine (cnnstat profile), so that --color time can shade by it."
    ),
]


def out_file(kinds: tuple[str, ...]) -> Callable[[Path | None], Path | None]:
    """An --out callback: the file must end in one of ``kinds`` and be writable, checked as the command line is read."""
    from ..atomic import check_file_writable

    def check(path: Path) -> None:
        if path.suffix.lstrip(".").lower() not in kinds:
            raise CnnstatError(f"{path}: name a .{', .'.join(kinds)} file")
        check_file_writable(path)

    return checked_while_parsing(check)


@app.command()
@user_errors
def graph(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", "-o", callback=out_file(FORMATS),
                                      help="The file to write: .svg, .png, .pdf, or .dot (Graphviz source).")],
    input: InputOpt = None,
    batch: BatchOpt = 1,
    depth: DepthOpt = None,
    color: ColorOpt = None,
    profile: ProfileOpt = False,
    convention: ConventionOpt = DEFAULT_CONVENTION_NAME,
    optimizer: OptimizerOpt = DEFAULT_OPTIMIZER_NAME,
    train: TrainModeOpt = False,
    timeout: TimeoutOpt = None,
) -> None:  # fmt: skip
    """The data-flow diagram: a node per layer call (or module at --depth), joins where values meet, shaded by cost."""
    from ..atomic import write_atomically
    from ..report.diagram import check_figure, diagram, render_bytes

    color = color or "macs"
    check_figure(color, timed=profile)  # before the counting, not after
    err = stderr_console()
    with err.status(f"counting {model}…"):
        report = report_for(model, input, batch, convention, optimizer, timeout, train)
    measured = time_layers(model, report, batch, train, err) if profile else None
    content = render_bytes(diagram(report, depth=depth, figure=color, profile=measured), out.suffix.lstrip(".").lower())
    write_atomically(out, content)
    err.print(f"wrote {out}")


def time_layers(model: str, report: Any, batch: int, train: bool, err: Any) -> Any:
    """``cnnstat profile``'s measurement of ``model`` at the input ``report`` was counted at, with its progress shown."""
    from ..profile.run import profile_model

    with err.status(f"timing {model}…") as status:
        return profile_model(model, input_size=report.input_shape[1:], batch=batch, train=train, progress=status.update)
