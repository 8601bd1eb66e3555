"""``cnnstat train`` and ``cnnstat predict``: progress on stderr, files in the run folder."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import CnnstatError
from .app import ModelArg, app, fail, user_errors
from .output import stderr_console, stdout_console, table

STEP_REFRESH = 10  # read the running loss (a device sync) every this many steps


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


def default_run_dir(model: str) -> Path:
    """runs/<model>-<date>-<time> in the working folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return Path("runs") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


class ProgressPrinter:
    """Turns training events into a rich progress bar and one line per epoch, on stderr."""

    def __init__(self, console: Any, epochs: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console, self.epochs = console, epochs
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(), console=console, transient=True,
        )  # fmt: skip
        self.task: Any = None
        self.started = 0.0

    def __call__(self, event: Any) -> None:
        from ..training.loop import EpochDone, EpochStarted, Notice, RunStarted, StepDone

        if isinstance(event, Notice):
            self.console.print(f"[yellow]warning:[/yellow] {event.message}")
        elif isinstance(event, RunStarted):
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
            self.console.print(f"training on {event.device}: {event.epochs} epochs of {event.steps} steps{resumed}")
            self.progress.start()
        elif isinstance(event, EpochStarted):
            self.started = time.perf_counter()
            self.task = self.progress.add_task(f"epoch {event.epoch}/{self.epochs}", total=None, stats="")
        elif isinstance(event, StepDone) and event.step % STEP_REFRESH == 0:
            seen = event.seen
            stats = (f"loss {event.loss_sum.item() / seen:.3f}  acc {100 * event.correct.item() / seen:.1f}%  "
                     f"{seen / (time.perf_counter() - self.started):,.0f} img/s")  # fmt: skip
            self.progress.update(self.task, completed=event.step, stats=stats)
        elif isinstance(event, EpochDone):
            m = event.metrics
            self.progress.remove_task(self.task)
            self.console.print(
                f"epoch {m.epoch:>3}/{self.epochs}  train loss {m.train_loss:.4f} acc {100 * m.train_acc:.2f}%  "
                f"test loss {m.test_loss:.4f} acc {100 * m.test_acc:.2f}%  {m.seconds:.1f} s  {m.images_per_s:,.0f} img/s  lr {m.lr:.2g}"
            )

    def stop(self) -> None:
        self.progress.stop()


@app.command("train")
@user_errors
def train_command(
    model: ModelArg,
    recipe: Annotated[
        Recipe,
        typer.Option(
            "--recipe", "-r",
            help="classic: the classic sigmoid LeNet recipe; fast: time to 90% on a CPU; best: highest accuracy in minutes.",
        ),
    ] = Recipe.fast,  # fmt: skip
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
    from ..training.artifacts import confusion_table, per_class_table, plot_curves, write_metrics
    from ..training.checkpoint import load_checkpoint
    from ..training.data import load_fashion_mnist
    from ..training.loop import Distributed, TrainConfig, TrainingInterrupted, train
    from ..training.recipes import build_recipe

    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    dist = Distributed.from_env()
    err = stderr_console(quiet=not dist.main)
    if resume and out is None:
        raise CnnstatError("--resume needs --out RUN_DIR, the folder of the run to continue")
    if resume:
        config = TrainConfig.from_dict(load_checkpoint(out / "last.pt")["config"])  # type: ignore[operator]
        if overrides or model != config.model:
            err.print(f"resuming {out}: its stored options are used ({config.model}, recipe {config.recipe})")
    else:
        config = TrainConfig(model, recipe.value, build_recipe(recipe.value, **overrides), device=device.value, seed=seed,
                             limit=limit)  # fmt: skip
    run_dir = out or default_run_dir(config.model)
    with err.status("loading Fashion-MNIST…"):
        fashion = load_fashion_mnist(data, allow_download=download)
    err.print(f"Fashion-MNIST from {fashion.source}: {len(fashion.train):,} training and {len(fashion.test):,} test images")
    printer = ProgressPrinter(err, config.hyper.epochs)
    try:
        result = train(config, fashion, run_dir, resume=resume, progress=printer)
    except TrainingInterrupted as interrupted:
        raise fail(str(interrupted), 130) from None
    finally:
        printer.stop()
    if not dist.main:
        return
    extra = {"config": config.to_dict(), "device": result.device, "source": fashion.source,
             "weight_checksums": result.weight_checksums}  # fmt: skip
    write_metrics(run_dir, result.metrics, extra)
    plot_curves(run_dir, result.metrics, f"{config.model} · recipe {config.recipe}")
    err.print(per_class_table(result.confusion))
    err.print(confusion_table(result.confusion))
    best = max(result.metrics, key=lambda m: m.test_acc)
    err.print(f"best test accuracy {100 * best.test_acc:.2f}% (epoch {best.epoch}); run folder {run_dir}: "
              "metrics.csv, metrics.json, curves.png, last.pt, best.pt")  # fmt: skip


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
    import sys

    from ..atomic import write_atomically
    from ..training.predict import evaluate_test_set, load_trained, predict_images

    trained = load_trained(checkpoint)
    if not test and not images:
        raise CnnstatError("name one or more images, or pass --test")
    if test:
        evaluation, size = evaluate_test_set(trained, data)
        sys.stdout.write(f"test accuracy {100 * evaluation.accuracy:.2f}% on {size:,} images ({checkpoint})\n")
        if out is not None:
            labels = evaluation.predictions.tolist()
            write_atomically(out, "id,label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
            sys.stdout.write(f"wrote {len(labels):,} predictions to {out}\n")
        return
    rows = [(str(path), str(index), name, f"{100 * p:.1f}%") for path, index, name, p in predict_images(trained, images or [], invert)]
    rendered = table(f"Predictions of {trained.config.model} ({checkpoint})", ("Image", "Class", "Name", "Probability"), rows, 2)
    stdout_console().print(rendered)
