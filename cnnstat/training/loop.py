"""The epoch loop: plan a run, train it epoch by epoch, checkpoint after each, end with the test set, report typed events.

The whole data set is held on the device and batches are sliced from a seeded shuffle. Every
epoch draws its permutation and augmentation from a generator seeded with (seed, epoch), and
checkpoints carry the global RNG state and the plan, so a resumed run ends with the same weights
as an uninterrupted one.

Selection is honest: with a validation split (every recipe but ``classic``) the checkpoint, and
how test images are averaged over views of them, are chosen on validation images held out of the
training set; the test set is evaluated once, at the end, on what was chosen.

A run's parts each have a module: its configuration (``config``), setting it up (``run``), its events
(``events``), an epoch's batches on the device (``batches``), the step planner (``planner``), checkpoint policy (``checkpoint_policy``), the choice of
test-time averaging (``tta``) and what a torchrun job's processes share (``distributed``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..devices import synchronize
from ..errors import CnnstatError
from . import evaluation
from .batches import epoch_batches, epoch_order
from .budget import Clock, Pace, Plan
from .checkpoint import load_checkpoint
from .checkpoint_policy import keep_choice, keep_epoch, restore, start_folder
from .config import TrainConfig
from .data import ImageData
from .datasets import dataset_info
from .distributed import share_buffers, summed_over_processes, weight_checksums
from .evaluation import TTA_VIEWS
from .events import Compiled, EpochDone, EpochStarted, ProgressHook, RunStarted, StepDone
from .metrics import EpochMetrics
from .planner import plan_run, replan_run
from .run import Run, compile_ahead, denormals_flushed, set_up, train_step
from .tta import choose_tta


class TrainingInterrupted(CnnstatError):
    """Ctrl-C during training; the message says how to resume."""


@dataclass(frozen=True)
class FinalResult:
    """What a run reports: the chosen epoch, its validation figure and the test figure taken once on it."""

    epoch: int
    val_acc: float | None  # None without a validation split
    test_acc: float
    test_loss: float
    tta: str  # how test images were averaged over views of them (chosen on validation): a key of TTA_VIEWS
    checkpoint: str  # best.pt, or last.pt without a validation split
    tta_val_acc: dict[str, float] = field(default_factory=dict)  # each candidate's validation accuracy, where tried


@dataclass
class TrainResult:
    """What a run produced."""

    out: Path
    metrics: list[EpochMetrics]
    final: FinalResult
    confusion: torch.Tensor  # (10, 10) on the test set: rows true class, columns predicted
    device: str
    classes: tuple[str, ...]
    plan: Plan
    weight_checksums: list[float] = field(default_factory=list)
    compile_s: float | None = None  # compiling the step before training (counted by a budget, not in any epoch's time)


def _train_epoch(run: Run, epoch: int, report: ProgressHook, clock: Clock) -> tuple[EpochMetrics, Pace]:
    """One pass over the shuffled training set (or the part of it the plan leaves for a last epoch cut short), then an
    evaluation on the validation split (else the test set).

    Also returns the epoch's pace: its first steps can pay one-off costs (torch.compile, kernel selection)
    that later epochs do not, so the pace per step is timed on the steps after them, which a budget plans on.
    """
    hyper, setup, dist = run.config.hyper, run.setup, run.dist
    assert run.scheduler is not None
    steps = run.plan.steps_in_epoch(epoch, run.steps_per_epoch)
    generator = torch.Generator(device=setup.device).manual_seed(run.config.seed * 1_000_003 + epoch)
    order = epoch_order(len(run.train), run.usable, generator, dist.rank, dist.world)[: steps * run.per_rank_batch]
    run.network.train()
    began = clock()
    loss_sum = torch.zeros((), device=setup.device)
    correct = torch.zeros((), dtype=torch.int64, device=setup.device)
    report(EpochStarted(epoch + 1, run.plan.epochs, steps))
    warm_up = min(max(1, steps // 10), steps - 1)  # steps that may pay one-off costs
    warm_began = began
    seen_here = 0
    batches = epoch_batches(run.train, order, run.per_rank_batch, run.pixels, generator if hyper.augment else None)
    for step, (x, y) in enumerate(batches):
        loss, logits = train_step(run, run.network, run.optimizer, x, y)
        run.scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen_here += len(y)
        report(StepDone(step + 1, loss_sum, correct, seen_here))
        if step + 1 == warm_up:
            synchronize(setup.device)  # the host runs ahead of a GPU: the warm-up steps must have ended, not been queued
            warm_began = clock()
    # read on the host before the clock: on a GPU that waits for the epoch's queued steps, so the pace is the device's
    loss_total, correct_total = summed_over_processes(dist, torch.stack([loss_sum.float(), correct.float()])).tolist()
    share_buffers(dist, run.model)
    trained = clock()
    seen = len(order) * dist.world
    held_out = evaluation.evaluate(run.model, run.val if run.has_val else run.test, run.pixels, setup, hyper.eval_batch_size)
    figures = {"val_loss": held_out.loss, "val_acc": held_out.accuracy} if run.has_val else {
        "test_loss": held_out.loss, "test_acc": held_out.accuracy}  # fmt: skip
    if not run.has_val:
        run.confusion = held_out.confusion
    ended = clock()
    metrics = EpochMetrics(
        epoch=epoch + 1, steps=steps, train_loss=loss_total / seen, train_acc=correct_total / seen,
        seconds=ended - began, images_per_s=seen / (trained - began) if trained > began else 0.0,
        lr=run.optimizer.param_groups[0]["lr"], **figures,
    )  # fmt: skip
    return metrics, Pace((trained - warm_began) / (steps - warm_up), ended - trained, steps - warm_up)


def _finish(run: Run) -> FinalResult:
    """Evaluate what was chosen on the test set, once; with a validation split, let it choose test-time augmentation."""
    hyper, last = run.config.hyper, run.metrics[-1]
    if not run.has_val:
        assert last.test_acc is not None and last.test_loss is not None
        return FinalResult(last.epoch, None, last.test_acc, last.test_loss, "none", "last.pt")
    if run.best_weights is not None:
        run.model.load_state_dict(run.best_weights)
    tta, tried = choose_tta(run)
    test = evaluation.evaluate(run.model, run.test, run.pixels, run.setup, hyper.eval_batch_size, views=TTA_VIEWS[tta])
    run.confusion = test.confusion
    chosen = next(m for m in run.metrics if m.epoch == run.best_epoch)
    chosen.test_loss, chosen.test_acc = test.loss, test.accuracy
    final = FinalResult(run.best_epoch, run.best_val, test.accuracy, test.loss, tta, "best.pt", tried)
    keep_choice(run, asdict(final), tta)
    return final


def train(
    config: TrainConfig,
    data: ImageData,
    out: Path,
    *,
    resume: bool = False,
    progress: ProgressHook | None = None,
    clock: Clock = time.perf_counter,
    started: float | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``data``, writing metrics and checkpoints to ``out``.

    A time budget counts from ``started`` (a ``clock()`` reading; default: now). A resumed run keeps the
    plan its checkpoint holds.
    """
    report: ProgressHook = progress or (lambda event: None)
    started = clock() if started is None else started
    expected = dataset_info(config.dataset)
    if data.info is not expected:
        raise CnnstatError(f"the run trains on {expected.title}, but the data given are {data.info.title}")
    run = set_up(config, data, out, report)
    hyper = config.hyper
    budgeted = hyper.time_budget is not None and not resume
    deadline = started + hyper.time_budget if budgeted and hyper.time_budget is not None else None
    saved: int | None = None  # the epoch last.pt holds, once it holds one
    try:
        with denormals_flushed(run.setup):
            pace = None
            compile_s = compile_ahead(run, clock)
            if compile_s is not None:
                report(Compiled(compile_s, run.config.hyper.compile_mode))
            if resume:
                restore(run, load_checkpoint(out / "last.pt"))
            else:
                pace = plan_run(run, clock, deadline, report)
                start_folder(run)
            saved = run.start_epoch
            seconds_left = deadline - clock() if deadline is not None else None
            report(RunStarted(run.setup.description, run.plan.epochs, run.steps_per_epoch, run.start_epoch,
                              run.plan.total_steps, hyper.time_budget if budgeted else None, seconds_left, pace))  # fmt: skip
            epoch = run.start_epoch
            while epoch < run.plan.epochs:
                metrics, epoch_pace = _train_epoch(run, epoch, report, clock)
                epoch += 1
                if deadline is not None:
                    replan_run(run, epoch, deadline, clock, epoch_pace)
                keep_epoch(run, metrics)
                saved = epoch
                report(EpochDone(metrics, run.plan.epochs, run.plan.total_steps))
            if not run.metrics:
                raise CnnstatError(f"{out} holds no finished epoch to report")
            final = _finish(run)
    except KeyboardInterrupt:
        raise TrainingInterrupted(_interrupted(config, out, saved, run.plan.epochs, resume)) from None
    return TrainResult(out, run.metrics, final, run.confusion, run.setup.description, data.info.classes, run.plan,
                       weight_checksums(run.model, run.dist), compile_s)  # fmt: skip


def _interrupted(config: TrainConfig, out: Path, saved: int | None, epochs: int, resumed: bool) -> str:
    """Where Ctrl-C stopped the run, what last.pt holds, and the command that goes on."""
    resume = f"Resume with: cnnstat train {config.model} --resume --out {out}"
    if saved is None:
        if resumed:  # stopped while it read its checkpoint
            return f"interrupted before training began; {out / 'last.pt'} is as it was. {resume}"
        return "interrupted before the first checkpoint; nothing to resume: run the same command again"
    where = f"in epoch {saved + 1}" if saved < epochs else "during the final evaluation"
    return f"interrupted {where}; {out / 'last.pt'} holds the state after epoch {saved}. {resume}"
