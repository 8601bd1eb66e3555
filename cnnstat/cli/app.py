"""The Typer app, the options the commands share, and how a mistake becomes one line and an exit code.

Nothing heavy is imported here: torch, torchvision, fvcore and pandas load inside the commands
that need them, so ``cnnstat --help`` is instant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core

from ..atomic import check_file_writable, check_writable
from ..counting.conventions import CONVENTIONS, DEFAULT_CONVENTION
from ..counting.memory import DEFAULT_OPTIMIZER, OPTIMIZER_STATES
from ..counting.time_limit import MAX_TIMEOUT_S
from ..errors import CnnstatError
from .output import Format, stderr_console


class _FlagsWithoutType:
    """Typer's rich help writes a flag's type as "<bool>", as if --help or --all took a value: a flag of a cnnstat
    command shows no type (an empty metavar is what Typer prints in its place)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]  # the help option included
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_FlagsWithoutType, typer.core.TyperCommand):
    """A cnnstat command."""


class _Group(_FlagsWithoutType, typer.core.TyperGroup):
    """The ``cnnstat`` group: the commands, ``--version`` and ``--help``."""


class _App(typer.Typer):
    """Typer whose commands are ``_Command``s."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _App(
    cls=_Group,
    name="cnnstat",
    help="What a convolutional network costs: layer shapes, parameters, MACs, FLOPs and connections, "
    "counted exactly, explained, and checked against fvcore, torch and the papers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

F = TypeVar("F", bound=Callable[..., Any])

def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"cnnstat {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print cnnstat's version and exit.")
    ] = False,
) -> None:
    """The options that come before a command (the app's help is Typer's ``help`` above)."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red line on stderr and return the Exit to raise."""
    stderr_console().print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True, highlight=False)
    return typer.Exit(code)


def user_errors(command: F) -> F:
    """Turn cnnstat's own exceptions into one line and exit code 1; Ctrl-C into exit 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CnnstatError as error:
            raise fail(_escape(str(error))) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as error:
            if _caused_by_ctrl_c(error):  # Ctrl-C inside a C extension's import surfaces as the ImportError it caused
                raise fail("interrupted", 130) from None
            raise

    return wrapper  # type: ignore[return-value]


def _caused_by_ctrl_c(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt is in the chain of causes and contexts of ``error``."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:  # a chain may loop back on itself
        if isinstance(link, KeyboardInterrupt):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False


def _escape(text: str) -> str:
    """A message shown as written: rich would read ``[x]`` in it as markup."""
    from rich.markup import escape

    return escape(text)


# The choices come from the registries, so a new convention or optimizer needs no change here.
ConventionName = Enum("ConventionName", {name: name for name in CONVENTIONS}, type=str)  # type: ignore[misc]
OptimizerName = Enum("OptimizerName", {name: name for name in OPTIMIZER_STATES}, type=str)  # type: ignore[misc]

ModelArg = Annotated[str, typer.Argument(help="Zoo name (`cnnstat models`), torchvision name, timm:NAME, hf:FOLDER, model.pt2, model.onnx, pkg.module:attr or file.py:attr.")]
InputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input", "-i",
        help="One per input of forward: SHAPE[:DTYPE] or NAME=SHAPE[:DTYPE], e.g. 3x224x224, 2x16000, 128:int64. "
        "A shape one dimension short of the model's own keeps its channels (32x32 for LeNet-5 is 1x32x32; stderr says so). "
        "No batch in it (that is --batch), channels first. Default: the model's own.",
    ),
]  # fmt: skip
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, max=2**31 - 1, help="Batch size; every count scales with it.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people; json, csv or markdown for machines.")]
ConventionOpt = Annotated[
    ConventionName, typer.Option("--convention", "-c", help="FLOP convention (docs/conventions.md).")  # type: ignore[valid-type]
]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Print each layer's formula with its numbers filled in.")]


def checked_while_parsing(check: Callable[[Path], None]) -> Callable[[Path | None], Path | None]:
    """A Typer callback that runs ``check`` on a path option as the command line is read, before any work: what it
    refuses is a usage error naming the option."""

    def callback(value: Path | None) -> Path | None:
        if value is not None:
            try:
                check(value)
            except CnnstatError as error:
                raise typer.BadParameter(str(error)) from None
        return value

    return callback


#: A folder option checked as the command line is read: created if missing, refused if it cannot be written.
writable_folder = checked_while_parsing(check_writable)
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", callback=checked_while_parsing(check_file_writable),
                 help="Write the output to this file (atomically) instead of stdout."),
]  # fmt: skip
OptimizerOpt = Annotated[
    OptimizerName,  # type: ignore[valid-type]
    typer.Option("--optimizer", help="Optimizer whose state training memory includes: sgd (none), momentum (1×), adam, adamw (2×)."),
]
TrainModeOpt = Annotated[
    bool,
    typer.Option(
        "--train",
        help="Trace in training mode, as a training step runs: batch norm uses batch statistics, dropout keeps its masks.",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", min=0.001, max=MAX_TIMEOUT_S, help="Stop a model whose build or forward pass takes longer (seconds)."
    ),
]
DEFAULT_CONVENTION_NAME = ConventionName(DEFAULT_CONVENTION)
DEFAULT_OPTIMIZER_NAME = OptimizerName(DEFAULT_OPTIMIZER)
