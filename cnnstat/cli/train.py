"""``cnnstat train`` and ``cnnstat predict``: progress and the time left on stderr, files in the run folder."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..device_choices import DEFAULT_DEVICE, DEVICE_CHOICES
from ..errors import CnnstatError
from ..report.text import stdout_console, table
from ..training.datasets import DATASETS, DEFAULT_DATASET
from ..training.recipes import COMPILE_MODES, GPU_TUNING, RECIPES
from .app import ModelArg, OptimizerName, app, fail, user_errors
from .output import stderr_console

STEP_REFRESH = 10  # read the running loss (a device sync) every this many steps

# The choices come from the registries (torch-free modules, so --help stays instant): a new recipe, data set or
# device needs no change here.
RecipeName = Enum("RecipeName", {name: name for name in RECIPES}, type=str)  # type: ignore[misc]
DatasetName = Enum("DatasetName", {name: name for name in DATASETS}, type=str)  # type: ignore[misc]
Device = Enum("Device", {name: name for name in DEVICE_CHOICES}, type=str)  # type: ignore[misc]
CompileMode = Enum("CompileMode", {name: name for name in (*COMPILE_MODES, "off")}, type=str)  # type: ignore[misc]
DEFAULT_DEVICE_NAME = Device(DEFAULT_DEVICE)


DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Folder with the data set's IDX (.gz or raw) or CSV files (NAME_train.csv, NAME_test.csv)."),
]


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _span(total_steps: int, steps_per_epoch: int) -> str:
    """``12 epochs``, or ``12 epochs, the last cut to 180 of 429 steps`` where a budget cut the last one short."""
    whole, rest = divmod(total_steps, steps_per_epoch)
    if not rest:
        return _count(whole, "epoch")
    return f"{_count(whole + 1, 'epoch')}, the last cut to {rest:,} of {steps_per_epoch:,} steps"


def default_run_dir(model: str) -> Path:
    """runs/<model>-<date>-<time> in the working folder; a file model by its file and attribute, 80 characters at most."""
    short = Path(model.replace(":", "-")).name if ":" in model else model
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in short)[:80]
    return Path("runs") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


class ProgressPrinter:
    """Turns training events into a rich progress bar and one line per epoch, on stderr, with the time left."""

    def __init__(self, console: Any):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(), console=console, transient=True,
        )  # fmt: skip
        self.task: Any = None
        self.epochs = self.steps = self.total_steps = 0
        self.run_began = self.epoch_began = 0.0
        self.steps_before = self.steps_before_run = 0  # steps done before this epoch, and before this process began
        self.step_s: float | None = None  # measured before training, until this process has its own pace

    def time_left(self, completed: int) -> str:
        """The rest of the run after ``completed`` of its steps, at this process's pace so far (at the measured pace for
        its first steps), evaluations included."""
        from ..training.budget import format_duration

        done_here = completed - self.steps_before_run
        if done_here <= 0 and self.step_s is None:
            return ""
        elapsed = time.perf_counter() - self.run_began
        rate = elapsed / done_here if done_here >= STEP_REFRESH or self.step_s is None else self.step_s
        return f"{format_duration(rate * max(0, self.total_steps - completed))} left"

    def __call__(self, event: Any) -> None:
        from ..training.budget import format_duration
        from ..training.events import Compiled, EpochDone, EpochStarted, Notice, RunStarted, StepDone

        if isinstance(event, Notice):
            self.console.print(f"[yellow]note:[/yellow] {event.message}")
        elif isinstance(event, Compiled):
            self.console.print(f"compiled the step in {event.seconds:.1f} s (torch.compile, mode {event.mode}; before "
                               "training, counted by a time budget)")  # fmt: skip
        elif isinstance(event, RunStarted):
            self.epochs, self.steps, self.total_steps = event.epochs, event.steps_per_epoch, event.total_steps
            self.steps_before = event.start_epoch * self.steps
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
            span = _span(event.total_steps, self.steps)
            self.console.print(f"training on {event.device}: {span}, {_count(self.steps, 'step')} an epoch{resumed}")
            if event.budget_s is not None and event.pace is not None:
                self.step_s = event.pace.seconds_per_step(self.steps)
                epoch_s = self.step_s * self.steps
                fits = self.step_s * event.total_steps <= (event.seconds_left or 0)
                planned = f"{span}, at {format_duration(epoch_s)} an epoch, {'fit in' if fits else 'take more than'} the "
                self.console.print(
                    f"time budget {format_duration(event.budget_s)}: {event.pace.step_s * 1000:.0f} ms per step and "
                    f"{event.pace.eval_s:.1f} s per evaluation measured on {event.pace.steps_measured} steps; {planned}"
                    f"{format_duration(event.seconds_left or 0)} left, with time kept for the final evaluation"
                )
            self.run_began = time.perf_counter()
            self.steps_before_run = self.steps_before
            self.progress.start()
        elif isinstance(event, EpochStarted):
            self.epochs = event.epochs
            self.epoch_began = time.perf_counter()
            self.task = self.progress.add_task(f"epoch {event.epoch}/{self.epochs}", total=event.steps, stats="")
        elif isinstance(event, StepDone) and event.step % STEP_REFRESH == 0:
            seen = event.seen
            stats = (f"loss {event.loss_sum.item() / seen:.3f}  acc {100 * event.correct.item() / seen:.1f}%  "
                     f"{seen / (time.perf_counter() - self.epoch_began):,.0f} img/s  "
                     f"{self.time_left(self.steps_before + event.step)}")  # fmt: skip
            self.progress.update(self.task, completed=event.step, stats=stats)
        elif isinstance(event, EpochDone):
            m = event.metrics
            self.progress.remove_task(self.task)
            self.steps_before = min(self.steps_before + self.steps, self.total_steps)
            held_out = (f"val loss {m.val_loss:.4f} acc {100 * m.val_acc:.2f}%" if m.val_acc is not None
                        else f"test loss {m.test_loss:.4f} acc {100 * (m.test_acc or 0):.2f}%")  # fmt: skip
            replanned = ""
            if event.total_steps != self.total_steps:
                replanned = f"  [yellow]re-planned to end within the budget: {_span(event.total_steps, self.steps)}[/yellow]"
                self.epochs, self.total_steps = event.epochs, event.total_steps
            left = self.time_left(self.steps_before) if m.epoch < self.epochs else ""
            cut = f" ({m.steps:,} of {self.steps:,} steps)" if m.steps is not None and m.steps < self.steps else ""
            self.console.print(
                f"epoch {m.epoch:>3}/{self.epochs}{cut}  train loss {m.train_loss:.4f} acc {100 * m.train_acc:.2f}%  {held_out}  "
                f"{m.seconds:.1f} s  {m.images_per_s:,.0f} img/s  lr {m.lr:.2g}  {left}{replanned}"
            )

    def stop(self) -> None:
        self.progress.stop()


def _final_lines(result: Any, recipe: str, run_dir: Path, seconds: float, budget: float | None) -> list[str]:
    """What the run chose and what it measured, said once."""
    from ..training.budget import format_duration

    final = result.final
    took = f"{format_duration(seconds)}" + (f" of a {format_duration(budget)} budget" if budget else "")
    trained = sum(m.seconds for m in result.metrics)
    compiled = f", {result.compile_s:.1f} s compiling" if result.compile_s is not None else ""
    took += f" ({trained:.1f} s training, evaluations after each epoch included{compiled})"
    files = "metrics.csv, metrics.json, curves.png, last.pt" + (", best.pt" if final.val_acc is not None else "")
    if final.val_acc is None:
        setup = {"classic": "as the classic recipe does", "lecun1998": "as LeCun et al. 1998 report it"}.get(
            recipe, "as --val 0 asks"
        )
        return [
            f"no validation split: the test set was evaluated after every epoch, {setup}, and nothing was chosen on it",
            f"test accuracy {100 * final.test_acc:.2f}% after the last epoch ({final.epoch}); {took}",
            f"run folder {run_dir}: {files}",
        ]
    from ..training.evaluation import TTA_WORDS

    averaged = f", {TTA_WORDS[final.tta]} (validation chose it)" if final.tta != "none" else ""
    tried = "; averaged over views: " + ", ".join(
        f"{mode} {100 * accuracy:.2f}%" for mode, accuracy in final.tta_val_acc.items() if mode != "none"
    ) if len(final.tta_val_acc) > 1 else ""  # fmt: skip
    return [
        f"chosen on the validation split: epoch {final.epoch}, validation accuracy {100 * final.val_acc:.2f}% (best.pt){tried}",
        f"test accuracy {100 * final.test_acc:.2f}%, evaluated once on best.pt{averaged}; {took}",
        f"run folder {run_dir}: {files}",
    ]


@app.command("train")
@user_errors
def train_command(
    model: ModelArg,
    recipe: Annotated[
        RecipeName | None,  # type: ignore[valid-type]
        typer.Option(
            "--recipe",
            "-r",
            help="fast (the default): 90.5% on Fashion-MNIST in three CPU epochs; best: the best accuracy in "
            f"{RECIPES['best'].time_budget / 60:g} minutes on this machine's CPU, "
            f"{GPU_TUNING['best']['time_budget'] / 60:g} on a CUDA GPU; classic: the classic sigmoid LeNet recipe; "
            "lecun1998: LeCun et al. 1998 (the default for lenet5-1998).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    dataset: Annotated[
        DatasetName, typer.Option("--dataset", "-d", help="The data set to train and test on.")  # type: ignore[valid-type]
    ] = DatasetName(DEFAULT_DATASET),
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time-budget",
            "-t",
            help="Fit the run to this time (90s, 10m, 1h): the pace is measured on a few steps and as many steps "
            "planned as fit, the last epoch cut short if need be, at most the recipe's epochs (best: "
            f"{RECIPES['best'].time_budget:.0f} s and {RECIPES['best'].epochs} epochs on a CPU, "
            f"{GPU_TUNING['best']['time_budget']:.0f} s and {GPU_TUNING['best']['epochs']} epochs on a CUDA GPU).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="Train this many epochs, without the recipe's time budget; with --time-budget, at most this many."),
    ] = None,
    val: Annotated[
        int | None,
        typer.Option(
            "--val",
            min=0,
            help="Training images held out to choose the checkpoint; 0 for none. Default 5000 (classic, lecun1998: 0).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Override the recipe's batch size.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Override the recipe's (peak) learning rate.")] = None,
    optimizer: Annotated[
        OptimizerName | None,  # type: ignore[valid-type]
        typer.Option(help="Override the recipe's optimizer (momentum: SGD with momentum 0.9).", show_default=False),
    ] = None,
    compile_mode: Annotated[
        CompileMode | None,  # type: ignore[valid-type]
        typer.Option(
            "--compile-mode",
            help="On CUDA, torch.compile the step in this mode (the GPU recipes: reduce-overhead, which replays it as CUDA "
            "graphs), or off. The CPU never compiles.",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    input_size: Annotated[
        str | None, typer.Option("--input-size", help="Train at this input, CxHxW (ImageNet-sized models default to Cx64x64).")
    ] = None,
    device: Annotated[
        Device, typer.Option(help="auto picks CUDA (AMP, channels_last), then MPS, then the CPU.")  # type: ignore[valid-type]
    ] = DEFAULT_DEVICE_NAME,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Seeds weights, shuffling and augmentation (not the validation split).")
    ] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder; default runs/MODEL-DATE-TIME.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last.pt, with its stored plan.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Train on the first N training images only.")] = None,
    data: DataOpt = None,
    download: Annotated[
        bool, typer.Option(help="Fetch the data set through torchvision if it is not found (needs internet).")
    ] = False,
) -> None:
    """Train a model on Fashion-MNIST, MNIST or KMNIST: progress, validation, per-class accuracy, curves and checkpoints.

    Scale out with torchrun: `torchrun --nproc-per-node 2 -m cnnstat train MODEL`.
    """
    started = time.perf_counter()
    from ..atomic import check_writable
    from ..counting.inputs import parse_input
    from ..devices import select_device
    from ..training.artifacts import confusion_table, per_class_table, plot_curves
    from ..training.budget import parse_duration
    from ..training.checkpoint import load_checkpoint, model_to_build
    from ..training.config import TrainConfig, stored_config
    from ..training.data import load_dataset
    from ..training.distributed import Distributed
    from ..training.loop import TrainingInterrupted, train
    from ..training.metrics import write_metrics
    from ..training.recipes import build_recipe, default_recipe

    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer.value if optimizer else None, "val": val,
                 "time_budget": parse_duration(time_budget) if time_budget is not None else None}  # fmt: skip
    if compile_mode is not None:  # naming a mode asks for compilation; off turns it off
        overrides.update(compile=compile_mode.value != "off", compile_mode=None if compile_mode.value == "off" else compile_mode.value)
    overrides = {key: value for key, value in overrides.items() if value is not None}
    size = parse_input(input_size).shape if input_size is not None else None
    if size is not None and len(size) != 3:
        raise CnnstatError(f"--input-size {input_size!r}: expected channels×height×width, such as 3x64x64")
    dist = Distributed.from_env()
    err = stderr_console(quiet=not dist.main)
    if resume and out is None:
        raise CnnstatError("--resume needs --out RUN_DIR, the folder of the run to continue")
    if resume:
        last = out / "last.pt"  # type: ignore[operator]
        config = stored_config(load_checkpoint(last), last)
        model_to_build(config.model, last, model if model == config.model else None)  # code runs only if named
        if overrides or model != config.model or size is not None:
            err.print(f"resuming {out}: its stored options are used ({config.model}, recipe {config.recipe})")
    else:
        recipe_name = recipe.value if recipe is not None else default_recipe(model)
        on_gpu = select_device(device.value).device.type == "cuda"  # a GPU's recipes differ (training/recipes.py)
        hyper = build_recipe(recipe_name, model, on_gpu=on_gpu, **overrides)
        config = TrainConfig(model, recipe_name, hyper, device=device.value, seed=seed, limit=limit, dataset=dataset.value,
                             input_size=size)  # fmt: skip
    run_dir = out or default_run_dir(config.model)
    if dist.main:  # before the data are read or a step is taken, not at the first checkpoint; runs/ for a default folder
        check_writable(run_dir if out is not None else run_dir.parent)
    with err.status(f"loading {config.dataset}…"):
        images = load_dataset(config.dataset, data, allow_download=download)
    held_out = f", {config.hyper.val:,} of them held out for validation" if config.hyper.val else ", no validation split"
    err.print(f"{images.info.title} from {images.source}: {len(images.train):,} training images{held_out}; "
              f"{len(images.test):,} test images")  # fmt: skip
    printer = ProgressPrinter(err)
    try:
        result = train(config, images, run_dir, resume=resume, progress=printer, started=started)
    except TrainingInterrupted as interrupted:
        raise fail(str(interrupted), 130) from None
    finally:
        printer.stop()
    if not dist.main:
        return
    from dataclasses import asdict

    extra = {"config": config.to_dict(), "device": result.device, "source": images.source, "dataset": images.info.name,
             "plan": asdict(result.plan), "final": asdict(result.final), "weight_checksums": result.weight_checksums,
             "train_s": sum(m.seconds for m in result.metrics), "compile_s": result.compile_s}  # fmt: skip
    write_metrics(run_dir, result.metrics, extra)
    plot_curves(run_dir, result.metrics, f"{config.model} · {images.info.title} · recipe {config.recipe}")
    err.print(per_class_table(result.confusion, result.classes))
    err.print(confusion_table(result.confusion, result.classes))
    budget = config.hyper.time_budget if not resume else None
    for line in _final_lines(result, config.recipe, run_dir, time.perf_counter() - started, budget):
        err.print(line)


@app.command()
@user_errors
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="A run folder (its best.pt) or a .pt checkpoint.")],
    images: Annotated[list[Path] | None, typer.Argument(help="PNG/JPEG images, any size; converted to 28×28 grey.")] = None,
    test: Annotated[bool, typer.Option("--test", help="Evaluate on the test set of the run's data set instead.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="With --test: write id,label rows to this CSV.")] = None,
    invert: Annotated[bool, typer.Option(help="Invert images first (dark garment on a light background).")] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Rebuild this model for the weights (default: the run's own). Needed for module:attr and file.py:attr "
            "models: cnnstat runs code only when you name it.",
            show_default=False,
        ),
    ] = None,
    data: DataOpt = None,
) -> None:
    """Class and probability for each image, or test-set accuracy with --test, as the run chose (best.pt, test-time averaging)."""
    import sys

    from ..atomic import write_atomically
    from ..training.predict import evaluate_test_set, load_trained, predict_images

    trained = load_trained(checkpoint, model)
    if not test and not images:
        raise CnnstatError("name one or more images, or pass --test")
    if out is not None:
        from ..atomic import check_file_writable

        check_file_writable(out)  # before the test set is evaluated
    if test:
        evaluation, size = evaluate_test_set(trained, data)
        sys.stdout.write(f"test accuracy {100 * evaluation.accuracy:.2f}% on {size:,} images ({checkpoint})\n")
        if out is not None:
            labels = evaluation.predictions.tolist()
            write_atomically(out, "id,label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
            stderr_console().print(f"wrote {len(labels):,} predictions to {out}")
        return
    rows = [
        (str(path), str(index), name, f"{100 * p:.1f}%") for path, index, name, p in predict_images(trained, images or [], invert)
    ]
    rendered = table(f"Predictions of {trained.config.model} ({checkpoint})", ("Image", "Class", "Name", "Probability"), rows, 2)
    stdout_console().print(rendered)
