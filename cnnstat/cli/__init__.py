"""The ``cnnstat`` command line: thin Typer commands over the library, one module per group of commands."""

from .app import app

# Importing a command module registers its commands; the order here is the order of --help.
from . import count, compare, graph, report, check, diff, train, bench, profile  # noqa: E402, F401, I001  isort: skip


def main() -> None:
    """Console-script entry point; Ctrl-C before a command has begun exits 130 without a traceback."""
    from ..fast_start import cli_process  # light: imports no torch

    try:
        with cli_process():  # the command owns this process: its counting commands may take the start-up shortcut
            app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


__all__ = ["app", "main"]
