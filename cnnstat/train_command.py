"""``cnnstat train`` and ``cnnstat predict``: progress on stderr, files in the run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .atomic import write_atomically
from .checkpoint import load_checkpoint
from .data import CLASSES, FashionMNIST, load_fashion_mnist
from .devices import select_device
from .errors import CnnstatError, DataError
from .recipes import build_recipe
from .train import Distributed, TrainConfig, TrainResult, evaluate, prepare_batch, train
from .train_report import confusion_table, per_class_table, plot_curves, write_metrics
from .zoo import resolve_model

STEP_REFRESH = 10  # read the running loss (a device sync) every this many steps


def default_run_dir(model: str) -> Path:
    """runs/<model>-<date>-<time> in the working folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return Path("runs") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


class ProgressPrinter:
    """Turns training events into a rich progress bar and one line per epoch, on stderr."""

    def __init__(self, console: Console, epochs: int):
        self.console, self.epochs = console, epochs
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(), console=console, transient=True,
        )  # fmt: skip
        self.task: Any = None
        self.started = 0.0

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        if event == "warning":
            self.console.print(f"[yellow]warning:[/yellow] {fields['message']}")
        elif event == "start":
            resumed = f", resuming after epoch {fields['start_epoch']}" if fields["start_epoch"] else ""
            self.console.print(f"training on {fields['device']}: {fields['epochs']} epochs of {fields['steps']} steps{resumed}")
            self.progress.start()
        elif event == "epoch":
            self.started = time.perf_counter()
            self.task = self.progress.add_task(f"epoch {fields['epoch']}/{self.epochs}", total=None, stats="")
        elif event == "step" and fields["step"] % STEP_REFRESH == 0:
            seen = fields["seen"]
            stats = (f"loss {fields['loss'].item() / seen:.3f}  acc {100 * fields['correct'].item() / seen:.1f}%  "
                     f"{seen / (time.perf_counter() - self.started):,.0f} img/s")  # fmt: skip
            self.progress.update(self.task, completed=fields["step"], stats=stats)
        elif event == "epoch_end":
            m = fields["metrics"]
            self.progress.remove_task(self.task)
            self.console.print(
                f"epoch {m.epoch:>3}/{self.epochs}  train loss {m.train_loss:.4f} acc {100 * m.train_acc:.2f}%  "
                f"test loss {m.test_loss:.4f} acc {100 * m.test_acc:.2f}%  {m.seconds:.1f} s  {m.images_per_s:,.0f} img/s  lr {m.lr:.2g}"
            )

    def stop(self) -> None:
        self.progress.stop()


def run_train(model: str, recipe: str, overrides: dict[str, Any], *, device: str, seed: int, limit: int | None,
              out: Path | None, resume: bool, data_dir: Path | None, download: bool) -> TrainResult:  # fmt: skip
    """Load the data, train, write metrics, curves and checkpoints, print the summary tables."""
    dist = Distributed.from_env()
    err = Console(stderr=True, highlight=False, quiet=not dist.main)
    if resume and out is None:
        raise CnnstatError("--resume needs --out RUN_DIR, the folder of the run to continue")
    if resume:
        state = load_checkpoint(out / "last.pt")  # type: ignore[operator]
        config = TrainConfig.from_dict(state["config"])
        if overrides or model != config.model:
            err.print(f"resuming {out}: its stored options are used ({config.model}, recipe {config.recipe})")
    else:
        config = TrainConfig(model, recipe, build_recipe(recipe, **overrides), device=device, seed=seed, limit=limit)
    run_dir = out or default_run_dir(config.model)
    if limit is not None and limit < 1:
        raise CnnstatError("--limit must be at least 1")
    with err.status("loading Fashion-MNIST…"):
        data: FashionMNIST = load_fashion_mnist(data_dir, allow_download=download)
    err.print(f"Fashion-MNIST from {data.source}: {len(data.train):,} training and {len(data.test):,} test images")
    printer = ProgressPrinter(err, config.hyper.epochs)
    try:
        result = train(config, data, run_dir, resume=resume, progress=printer)
    finally:
        printer.stop()
    if dist.main:
        extra = {
            "config": config.to_dict(),
            "device": result.device,
            "source": data.source,
            "weight_checksums": result.weight_checksums,
        }
        write_metrics(run_dir, result.metrics, extra)
        plot_curves(run_dir, result.metrics, f"{config.model} · recipe {config.recipe}")
        err.print(per_class_table(result.confusion))
        err.print(confusion_table(result.confusion))
        best = max(result.metrics, key=lambda m: m.test_acc)
        err.print(f"best test accuracy {100 * best.test_acc:.2f}% (epoch {best.epoch}); run folder {run_dir}: "
                  "metrics.csv, metrics.json, curves.png, last.pt, best.pt")  # fmt: skip
    return result


def _load_image(path: Path) -> torch.Tensor:
    """Any PNG/JPEG -> 28×28 grey uint8, as Fashion-MNIST stores its images."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    except FileNotFoundError:
        raise DataError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    return torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).view(28, 28)


def run_predict(
    checkpoint: Path, images: list[Path], *, test: bool, out_csv: Path | None, data_dir: Path | None, invert: bool
) -> Table | str:
    """Class and probability per image, or test-set accuracy (and a submission CSV)."""
    state = load_checkpoint(checkpoint)
    config = TrainConfig.from_dict(state["config"])
    resolved = resolve_model(config.model, on_meta=False)
    resolved.module.load_state_dict(state["model"])
    model = resolved.module.eval()
    input_size = tuple(state["input_size"])
    if test:
        data = load_fashion_mnist(data_dir)
        evaluation = evaluate(model, data.test, input_size, config.hyper, select_device("cpu"))
        lines = f"test accuracy {100 * evaluation.accuracy:.2f}% on {len(data.test):,} images ({checkpoint})"
        if out_csv is not None:
            labels = evaluation.predictions.tolist()
            write_atomically(out_csv, "id,label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
            lines += f"\nwrote {len(labels):,} predictions to {out_csv}"
        return lines
    if not images:
        raise CnnstatError("name one or more images, or pass --test")
    batch = torch.stack([_load_image(path) for path in images])
    if invert:  # photos are dark on light; Fashion-MNIST is light on dark
        batch = 255 - batch
    with torch.no_grad():
        probabilities = model(prepare_batch(batch, input_size, config.hyper, None)).float().softmax(1)
    table = Table(title=f"Predictions of {config.model} ({checkpoint})", title_justify="left")
    for column in ("Image", "Class", "Name", "Probability"):
        table.add_column(column, justify="right" if column in ("Class", "Probability") else "left")
    for path, row in zip(images, probabilities, strict=True):
        index = int(row.argmax())
        table.add_row(str(path), str(index), CLASSES[index], f"{100 * row[index].item():.1f}%")
    return table
