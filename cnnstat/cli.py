"""The ``cnnstat`` command line: thin Typer commands over the library; torch is imported per command."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import CnnstatError

app = typer.Typer(
    name="cnnstat",
    help="What a convolutional network costs: layer shapes, parameters, MACs, FLOPs and connections, "
    "counted exactly, explained, and checked against fvcore, torch and the papers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red line on stderr and return the Exit to raise."""
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


def user_errors(command: F) -> F:
    """Turn cnnstat's own exceptions into one line and exit code 1; Ctrl-C into exit 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CnnstatError as error:
            raise fail(str(error)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class ConventionName(str, Enum):
    lenet = "lenet"
    macs = "macs"
    flops = "flops"
    fvcore = "fvcore"


ModelArg = Annotated[str, typer.Argument(help="Zoo name (`cnnstat models`), torchvision name, pkg.module:attr or file.py:attr.")]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="Input per sample, CxHxW or HxW; default: the model's own.")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size; every count scales with it.")]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people; json, csv or markdown for machines.")]
ConventionOpt = Annotated[ConventionName, typer.Option("--convention", "-c", help="FLOP convention (docs/conventions.md).")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Print each layer's formula with its numbers filled in.")]


def _stdout_console() -> Any:
    """Rich console on stdout; piped output is not squeezed to 80 columns unless COLUMNS says so."""
    import os

    from rich.console import Console

    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=200 if wide else None)


def _report(model: str, input_text: str | None, batch: int, convention: ConventionName) -> Any:
    from .analysis import analyze
    from .shapes import parse_input

    size = parse_input(input_text) if input_text else None
    return analyze(model, size, batch=batch, convention=convention.value)


def _emit(report: Any, fmt: OutputFormat, tables: Callable[[Any], list[Any]], explain: bool) -> None:
    from . import render

    if fmt is OutputFormat.json:
        sys.stdout.write(render.to_json(report) + "\n")
        return
    if fmt in (OutputFormat.csv, OutputFormat.markdown):
        sys.stdout.write(render.to_frame_text(report, fmt.value))
        return
    console = _stdout_console()
    for table in tables(report):
        console.print(table)
    for line in render.footer_lines(report):
        console.print(line)
    if explain:
        console.print()
        for line in render.explain_lines(report):
            console.print(line)


@app.command()
@user_errors
def summary(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    format: FormatOpt = OutputFormat.table,
    convention: ConventionOpt = ConventionName.lenet,
    explain: ExplainOpt = False,
) -> None:
    """Layer table: shapes, parameters, MACs and connections, with totals."""
    from .render import summary_table

    report = _report(model, input, batch, convention)
    _emit(report, format, lambda r: [summary_table(r)], explain)


@app.command()
@user_errors
def flops(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    format: FormatOpt = OutputFormat.table,
    convention: ConventionOpt = ConventionName.lenet,
    explain: ExplainOpt = False,
) -> None:
    """FLOPs per layer and per layer type under a named convention."""
    from .render import flops_tables

    report = _report(model, input, batch, convention)
    _emit(report, format, lambda r: list(flops_tables(r)), explain)


@app.command()
@user_errors
def models(
    pattern: Annotated[str, typer.Argument(help="Shell wildcard, e.g. 'res*'.")] = "*",
    torchvision: Annotated[bool, typer.Option("--torchvision", help="Also list torchvision's classification models.")] = False,
    format: FormatOpt = OutputFormat.table,
) -> None:
    """List models with their default input, parameter count and source."""
    from .listing import model_rows

    rows = model_rows(pattern, include_torchvision=torchvision)
    if not rows:
        raise CnnstatError(f"no model matches {pattern!r}")
    if format is OutputFormat.json:
        import json

        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if format in (OutputFormat.csv, OutputFormat.markdown):
        import pandas as pd

        frame = pd.DataFrame(rows)
        sys.stdout.write(frame.to_csv(index=False) if format is OutputFormat.csv else frame.to_markdown(index=False) + "\n")
        return
    from .render import build_table

    table_rows = [
        (row["name"], ", ".join(row["aliases"]), row["source"], row["input"], f"{row['params']:,}",
         f"{row['published_macs']:,}" if row["published_macs"] else "")
        for row in rows
    ]  # fmt: skip
    headers = ("Name", "Aliases", "Source", "Input", "Params", "MACs (published)")
    _stdout_console().print(build_table("Models", headers, table_rows, 3))


@app.command()
@user_errors
def check(
    models: Annotated[list[str] | None, typer.Argument(help="Models to check (names as for summary).")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Check every zoo model.")] = False,
    input: InputOpt = None,
    against: Annotated[
        str, typer.Option("--against", help="Comma-separated references: fvcore,torch,torchvision,paper.")
    ] = "fvcore,torch,torchvision,paper",
    snapshot: Annotated[
        Path | None, typer.Option("--snapshot", help="Folder of architecture snapshots to write or compare.")
    ] = None,
    update_snapshot: Annotated[
        bool, typer.Option("--update-snapshot", help="Rewrite snapshots after an intended change.")
    ] = False,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
) -> None:
    """Reconcile counts with fvcore, torch, torchvision and the papers; guard architectures with snapshots.

    Exit 0 when everything agrees or is explained, 1 on any MISMATCH or snapshot change.
    """
    raise typer.Exit(_run_check(models or [], all_models, input, against, snapshot, update_snapshot, format))


def _run_check(models: list[str], all_models: bool, input_text: str | None, against: str,
               snapshot: Path | None, update: bool, fmt: OutputFormat) -> int:  # fmt: skip
    from .check_command import run_check
    from .shapes import parse_input

    if all_models:
        from .zoo import list_models

        models = [*list_models(), *models]
    if not models:
        raise CnnstatError("name a model to check, or pass --all")
    if fmt not in (OutputFormat.table, OutputFormat.json):
        raise CnnstatError("check writes --format table or json")
    references = tuple(ref.strip() for ref in against.split(",") if ref.strip() and ref.strip() != "none")
    size = parse_input(input_text) if input_text else None
    return run_check(models, size, references, snapshot, update, fmt.value)


class Recipe(str, Enum):
    classic = "classic"
    fast = "fast"
    best = "best"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


DataOpt = Annotated[Path | None, typer.Option("--data", help="Folder with Fashion-MNIST IDX (.gz or raw) or Kaggle CSV files.")]


@app.command("train")
@user_errors
def train_command(
    model: ModelArg,
    recipe: Annotated[
        Recipe,
        typer.Option("--recipe", "-r", help="classic: seed 000; fast: time to 90% on a CPU; best: highest accuracy in minutes."),
    ] = Recipe.fast,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the recipe's epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Override the recipe's batch size.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Override the recipe's (peak) learning rate.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd, adam or adamw.")] = None,
    device: Annotated[Device, typer.Option(help="auto picks CUDA (AMP, channels_last), then MPS, then the CPU.")] = Device.auto,
    seed: Annotated[int, typer.Option(help="Seeds weights, shuffling and augmentation.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder; default runs/MODEL-DATE-TIME.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last.pt.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Train on the first N training images only.")] = None,
    data: DataOpt = None,
    download: Annotated[
        bool, typer.Option(help="Fetch Fashion-MNIST through torchvision if it is not found (needs internet).")
    ] = False,
) -> None:
    """Train a model on Fashion-MNIST: progress, per-class accuracy, curves and checkpoints.

    Scale out with torchrun: `torchrun --nproc-per-node 2 -m cnnstat train MODEL`.
    """
    from .train import TrainingInterrupted
    from .train_command import run_train

    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    try:
        run_train(model, recipe.value, overrides, device=device.value, seed=seed, limit=limit, out=out,
                  resume=resume, data_dir=data, download=download)  # fmt: skip
    except TrainingInterrupted as interrupted:
        raise fail(str(interrupted), 130) from None


@app.command()
@user_errors
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder (its best.pt) or a .pt checkpoint.")],
    images: Annotated[list[Path] | None, typer.Argument(help="PNG/JPEG images, any size; converted to 28×28 grey.")] = None,
    test: Annotated[bool, typer.Option("--test", help="Evaluate on the Fashion-MNIST test set instead.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="With --test: write id,label rows to this CSV.")] = None,
    invert: Annotated[bool, typer.Option(help="Invert images first (dark garment on a light background).")] = False,
    data: DataOpt = None,
) -> None:
    """Class and probability for each image, or test-set accuracy with --test."""
    from .train_command import run_predict

    result = run_predict(checkpoint, images or [], test=test, out_csv=out, data_dir=data, invert=invert)
    if isinstance(result, str):
        sys.stdout.write(result + "\n")
    else:
        _stdout_console().print(result)


@app.command()
@user_errors
def bench(
    models: Annotated[list[str], typer.Argument(help="One or more models (names as for summary).")],
    device: Annotated[Device, typer.Option(help="auto picks CUDA, then MPS, then the CPU.")] = Device.auto,
    mode: Annotated[str, typer.Option(help="infer: forward pass; train: forward + backward + optimizer step.")] = "infer",
    batch_size: Annotated[str, typer.Option("--batch-size", help="Comma-separated batch sizes.")] = "1,32,256",
    input: InputOpt = None,
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision (CUDA: bf16/fp16; CPU: bf16 where native).")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model first.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads; default: every core.")] = None,
    min_time: Annotated[float, typer.Option("--min-time", min=0.01, help="Seconds of timing per measurement.")] = 1.0,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or csv.")] = OutputFormat.table,
    baseline: Annotated[Path | None, typer.Option(help="Earlier --format json output to compare with.")] = None,
) -> None:
    """Time inference or training; images/s, GFLOP/s from the counted FLOPs, share of peak, memory."""
    from .bench_command import run_bench_command
    from .shapes import parse_input

    try:
        sizes = tuple(int(part) for part in batch_size.split(",") if part.strip())
    except ValueError:
        raise fail(f"cannot read --batch-size {batch_size!r}: expected numbers separated by commas, e.g. 1,32,256") from None
    run_bench_command(models, device=device.value, mode=mode, batch_sizes=sizes, input_size=parse_input(input) if input else None,
                      amp=amp, channels_last=channels_last, compile=compile, threads=threads, min_time=min_time,
                      fmt=format.value, baseline=baseline)  # fmt: skip


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
