"""The training loop: set a run up, plan it, train it epoch by epoch, checkpoint after each, report typed events.

The whole data set is held on the device and batches are sliced from a seeded shuffle. Every
epoch draws its permutation and augmentation from a generator seeded with (seed, epoch), and
checkpoints carry the global RNG state and the plan, so a resumed run ends with the same weights
as an uninterrupted one.

Selection is honest: with a validation split (every recipe but ``classic``) the checkpoint, and
how test images are averaged over views of them, are chosen on validation images held out of the
training set; the test set is evaluated once, at the end, on what was chosen.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..counting.records import format_shape
from ..devices import DeviceSetup, select_device
from ..errors import CheckpointError, CnnstatError
from ..zoo import output_features, resolve_model
from .budget import Clock, Pace, Plan, measure_pace, plan_steps, replan, replan_tolerance, reserve_seconds
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .data import DATASETS, DatasetInfo, ImageData, Split, dataset_info, validation_split
from .evaluation import CLASSES, TTA_VIEWS, average_log_probs, class_logits, distinct_views, evaluate, scored, tta_candidates
from .images import Pixels, prepare_batch
from .metrics import EpochMetrics, write_metrics_csv
from .recipes import Recipe, recipe_from_dict

SMALL_INPUT = (64, 64)  # ImageNet-sized models train at this size by default: 28×28 images only gain blur beyond it


class TrainingInterrupted(CnnstatError):
    """Ctrl-C during training; the message says how to resume."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; stored in its checkpoints."""

    model: str
    recipe: str
    hyper: Recipe
    device: str = "auto"
    seed: int = 0
    limit: int | None = None
    dataset: str = "fashion-mnist"
    input_size: tuple[int, ...] | None = None  # None: the model's own, or SMALL_INPUT for ImageNet-sized models

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hyper": asdict(self.hyper), "input_size": list(self.input_size) if self.input_size else None}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TrainConfig:
        size = data.get("input_size")
        return TrainConfig(**{**data, "hyper": recipe_from_dict(data["hyper"]), "input_size": tuple(size) if size else None})


def stored_config(state: dict[str, Any], path: Path) -> TrainConfig:
    """The configuration a checkpoint holds; a damaged one is named, not misread."""
    try:
        return TrainConfig.from_dict(state["config"])
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path} is damaged: its configuration cannot be read ({error})") from None


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


# -- progress events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """Something the user should know before training starts."""

    message: str


@dataclass(frozen=True)
class RunStarted:
    device: str
    epochs: int
    steps_per_epoch: int
    start_epoch: int
    total_steps: int  # of the whole run, as planned: the last epoch may be cut short
    budget_s: float | None = None  # the time budget, when the steps were planned to fit one
    seconds_left: float | None = None  # of the budget, now
    pace: Pace | None = None  # measured on the first steps, when it was


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # counted from 1
    epochs: int  # as planned now
    steps: int  # in this epoch: fewer than a whole epoch's where a budget cut the last one short


@dataclass(frozen=True)
class StepDone:
    step: int  # counted from 1 within the epoch
    loss_sum: torch.Tensor  # on the device: reading it synchronises, so a listener decides when
    correct: torch.Tensor
    seen: int


@dataclass(frozen=True)
class EpochDone:
    metrics: EpochMetrics
    epochs: int  # as planned after this epoch: a budgeted run may have re-planned
    total_steps: int  # likewise


ProgressEvent = Notice | RunStarted | EpochStarted | StepDone | EpochDone
ProgressHook = Callable[[ProgressEvent], None]


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


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (world 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @staticmethod
    def from_env() -> Distributed:
        return Distributed(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )

    @property
    def main(self) -> bool:
        return self.rank == 0


# -- the parts of a run ----------------------------------------------------------------------------


def _initialise(model: nn.Module, init: str) -> None:
    if init == "xavier":
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)


def _optimizer(model: nn.Module, hyper: Recipe) -> torch.optim.Optimizer:
    parameters = [p for p in model.parameters() if p.requires_grad]
    if hyper.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=hyper.lr, momentum=hyper.momentum, weight_decay=hyper.weight_decay)
    if hyper.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=hyper.lr, weight_decay=hyper.weight_decay)
    return torch.optim.AdamW(parameters, lr=hyper.lr, weight_decay=hyper.weight_decay)


def _warm_up_steps(total: int) -> int:
    """A quarter of the steps to warm up, and at least two: OneCycleLR divides by the warm-up length."""
    return max(2, round(0.25 * total))


class OneCycle(torch.optim.lr_scheduler.OneCycleLR):
    """torch's one-cycle schedule, which a budgeted run can stretch or shrink at an epoch's end and still anneal to its end."""

    def __init__(self, optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int):
        super().__init__(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=_warm_up_steps(total_steps) / total_steps)

    def replan(self, total_steps: int) -> None:
        """Span ``total_steps`` from now on; the optimizer's learning rate and momentum follow at once."""
        self.total_steps = total_steps
        self._schedule_phases[0]["end_step"] = float(_warm_up_steps(total_steps)) - 1
        self._schedule_phases[-1]["end_step"] = total_steps - 1
        self._get_lr_called_within_step = True  # get_lr warns when called from outside step()
        try:
            lrs = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class PaperSteps:
    """LeCun et al. 1998's learning rates, as factors of the first: 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3,
    0.00005 for 4, then 0.00001."""

    FACTORS = ((2, 1.0), (5, 0.4), (8, 0.2), (12, 0.1))  # (passes ending, factor); after them 0.02

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, step: int) -> float:
        epoch = step // self.steps_per_epoch
        return next((factor for end, factor in self.FACTORS if epoch < end), 0.02)


def _scheduler(
    optimizer: torch.optim.Optimizer, hyper: Recipe, plan: Plan, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if hyper.schedule == "onecycle" and plan.total_steps >= 4:
        return OneCycle(optimizer, hyper.lr, plan.total_steps)
    if hyper.schedule == "lecun1998":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, PaperSteps(steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


@dataclass
class _Run:
    """Everything one run trains with, and where it stands."""

    config: TrainConfig
    out: Path
    dist: Distributed
    setup: DeviceSetup
    pixels: Pixels
    model: nn.Module
    network: nn.Module  # the model, wrapped for DDP when distributed, compiled on CUDA when the recipe says so
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train: Split  # on the device
    val: Split  # empty without a validation split
    test: Split
    usable: int  # training images per epoch: whole batches on every process, where there are enough images
    per_rank_batch: int
    steps_per_epoch: int
    plan: Plan = field(default_factory=lambda: Plan(1, 1))
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    metrics: list[EpochMetrics] = field(default_factory=list)
    start_epoch: int = 0
    most_steps_planned: int = 0  # under a budget: a slow epoch may cut the plan, and a later re-plan grow it back to this
    best_val: float = -1.0
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    confusion: torch.Tensor = field(default_factory=lambda: torch.zeros(10, 10, dtype=torch.int64))  # of the last test evaluation

    @property
    def has_val(self) -> bool:
        return len(self.val) > 0

    def state(self, epoch: int) -> dict[str, Any]:
        """What a checkpoint holds after ``epoch`` epochs."""
        assert self.scheduler is not None
        return {
            "config": self.config.to_dict(), "epoch": epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": torch.get_rng_state(), "metrics": [asdict(m) for m in self.metrics],
            "cuda_rng": torch.cuda.get_rng_state_all() if self.setup.device.type == "cuda" else None,
            "plan": asdict(self.plan), "best_val": self.best_val, "best_epoch": self.best_epoch,
            "input_size": list(self.pixels.input_size), "dataset": self.config.dataset,
        }  # fmt: skip


def _input_size(config: TrainConfig, module: nn.Module, native: tuple[int, ...], report: ProgressHook) -> tuple[int, ...]:
    """The input the run trains at: the one asked for, else the model's, else a smaller one for ImageNet-sized models."""
    if config.input_size is not None:
        return config.input_size
    if native[1] * native[2] <= SMALL_INPUT[0] * SMALL_INPUT[1]:
        return native
    small = (native[0], *SMALL_INPUT)
    try:
        output_features(module, small)
    except Exception:  # the model needs its native size (a ViT's fixed patch grid, for one)
        report(Notice(f"{config.model} takes {format_shape(native)} only: 28×28 images are resized to that, "
                      "which costs much CPU time"))  # fmt: skip
        return native
    report(Notice(
        f"{config.model} is built for {format_shape(native)} ImageNet images; it trains here at "
        f"{format_shape(small)} ({(native[1] * native[2]) // (small[1] * small[2])}× fewer pixels, and 28×28 images "
        f"gain nothing from a larger size). --input-size {'x'.join(map(str, native))} trains at its own size."
    ))  # fmt: skip
    return small


def _model(config: TrainConfig, info: DatasetInfo, report: ProgressHook) -> tuple[nn.Module, tuple[int, ...]]:
    """The model, initialised as the recipe says, and its input, after checking it fits the data set."""
    torch.manual_seed(config.seed)
    resolved = resolve_model(config.model, on_meta=False)
    if resolved.input_size is None or len(resolved.input_size) != 3:
        raise CnnstatError(f"{config.model} takes no image input cnnstat knows; give it an input_size attribute (C, H, W)")
    input_size = _input_size(config, resolved.module, tuple(resolved.input_size), report)
    try:
        outputs = output_features(resolved.module, input_size)
    except Exception as error:
        raise CnnstatError(f"{config.model} cannot take input {format_shape(input_size)}: {error}") from None
    if outputs < CLASSES:
        raise CnnstatError(f"{config.model} has {outputs} outputs; {info.title} has {CLASSES} classes")
    if outputs > 10:
        report(Notice(f"{config.model} has {outputs} outputs; only the first {CLASSES} are {info.title}'s classes"))
    _initialise(resolved.module, config.hyper.init)
    return resolved.module, input_size


def _splits(config: TrainConfig, data: ImageData) -> tuple[Split, Split]:
    """(training, validation): the validation images are held out first, then --limit takes the first training images."""
    train, val = validation_split(data.train, config.hyper.val)
    if config.limit is not None:
        train = train.take(slice(0, config.limit))
    return train, val


def _set_up(config: TrainConfig, data: ImageData, out: Path, report: ProgressHook) -> _Run:
    """Device, model, data on the device, optimizer and loss scaler; the schedule comes with the plan."""
    hyper = config.hyper
    dist = Distributed.from_env()
    if dist.world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if config.device in ("auto", "cuda") and torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    setup = select_device(config.device, amp=hyper.amp, channels_last=hyper.channels_last)
    if setup.device.type == "cuda":
        setup = DeviceSetup(torch.device("cuda", dist.local_rank), setup.amp_dtype, setup.channels_last)
        torch.cuda.set_device(setup.device)
    model, input_size = _model(config, data.info, report)
    model.to(setup.device)
    if setup.channels_last:
        model.to(memory_format=torch.channels_last)
    train_split, val_split = _splits(config, data)
    per_rank_batch = max(1, hyper.batch_size // dist.world)
    # whole batches only: a last, smaller batch would make torch.compile compile the model a second time
    # (tens of seconds, inside a time budget), and each epoch's shuffle leaves out different images
    whole = per_rank_batch * dist.world
    usable = len(train_split) - len(train_split) % (whole if len(train_split) >= whole else dist.world)
    if usable == 0:
        raise CnnstatError(f"{len(train_split)} training images cannot be shared among {dist.world} processes")
    network = torch.nn.parallel.DistributedDataParallel(model) if dist.world > 1 else model
    if hyper.compile and setup.device.type == "cuda":
        network = torch.compile(network)  # type: ignore[assignment]
    return _Run(
        config, out, dist, setup, Pixels.for_run(input_size, hyper, data.info), model, network, _optimizer(model, hyper),
        # fp16 gradients underflow without loss scaling; bf16 and float32 need none
        torch.amp.GradScaler(setup.device.type, enabled=setup.amp_dtype == torch.float16),
        train_split.to(setup.device), val_split.to(setup.device), data.test.to(setup.device),
        usable, per_rank_batch, math.ceil(usable // dist.world / per_rank_batch),
    )  # fmt: skip


def _restore(run: _Run, state: dict[str, Any]) -> None:
    if stored_config(state, run.out / "last.pt") != run.config:
        raise CheckpointError(f"{run.out}/last.pt was written by another configuration; resume with the same options")
    load_weights(run.model, state["model"], run.out / "last.pt", run.config.model)
    try:
        _restore_state(run, state)
    except (TypeError, ValueError, KeyError, RuntimeError) as error:  # a field of another type or shape than cnnstat writes
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{run.out / 'last.pt'} is damaged: its training state cannot be restored ({reason})") from None
    if run.has_val and run.best_epoch:
        run.best_weights = _chosen_weights(run)


def _restore_state(run: _Run, state: dict[str, Any]) -> None:
    """Plan, schedule, optimizer, scaler, random state and metrics, as last.pt holds them (the weights are in already)."""
    stored = state.get("plan") or {
        "epochs": run.config.hyper.epochs,
        "total_steps": run.config.hyper.epochs * run.steps_per_epoch,
    }
    run.plan = Plan(**stored)
    # before the optimizer's state: it sets the rates
    run.scheduler = _scheduler(run.optimizer, run.config.hyper, run.plan, run.steps_per_epoch)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if "scaler" in state:
        run.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    run.metrics = [EpochMetrics(**m) for m in state["metrics"]]
    run.start_epoch = state["epoch"]
    run.best_val, run.best_epoch = float(state.get("best_val", -1.0)), int(state.get("best_epoch", 0))


def _chosen_weights(run: _Run) -> dict[str, torch.Tensor] | None:
    """The weights of the epoch last.pt chose, from best.pt; None where best.pt is one epoch ahead of last.pt.

    best.pt is written before last.pt, so a kill between the two leaves best.pt from the epoch the
    resumed run trains again; that epoch, trained again identically, writes it again.
    """
    path = run.out / "best.pt"
    best = load_checkpoint(path) if path.is_file() else None
    if best is not None and best["epoch"] == run.best_epoch:
        return best["model"]
    if best is not None and best["epoch"] > run.start_epoch:
        return None
    found = f"holds epoch {best['epoch']}" if best is not None else "is missing"
    raise CheckpointError(f"{path} {found}, but last.pt chose epoch {run.best_epoch}: the run folder was changed by hand")


def _train_step(run: _Run, network: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor):
    """One optimiser step on a batch; the loss and logits, still on the device."""
    hyper, setup = run.config.hyper, run.setup
    if setup.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with setup.autocast():
        logits = class_logits(network(x))
        loss = F.cross_entropy(logits, y, label_smoothing=hyper.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(optimizer)
    run.scaler.update()
    return loss, logits


def _measure_pace(run: _Run, clock: Clock, *, quick: bool = False) -> Pace:
    """Seconds per step and per evaluation, measured on a throwaway copy of the model: the run itself is untouched."""
    hyper = run.config.hyper
    scaler_state = run.scaler.state_dict()
    model = copy.deepcopy(run.model)  # eager even where the run compiles: a second compilation would cost more than it tells
    optimizer = _optimizer(model, hyper)
    generator = torch.Generator(device=run.setup.device).manual_seed(run.config.seed)
    eval_split = run.val if run.has_val else run.test

    def train_steps(count: int) -> None:
        model.train()
        for _ in range(count):
            index = torch.randint(0, len(run.train), (run.per_rank_batch,), generator=generator, device=run.setup.device)
            x = prepare_batch(run.train.images[index], run.pixels, generator if hyper.augment else None)
            loss, _ = _train_step(run, model, optimizer, x, run.train.labels[index])
        loss.item()  # wait for the device

    def evaluate_slice() -> float:
        size = min(len(eval_split), hyper.eval_batch_size)
        evaluate(model, eval_split.take(slice(0, size)), run.pixels, run.setup, hyper.eval_batch_size)
        return size / max(1, len(eval_split))

    # every random state the probe draws from (dropout on the CPU or the GPU) is put back after it
    devices = [run.setup.device] if run.setup.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            if quick:
                return measure_pace(train_steps, evaluate_slice, clock, warm_up=1, min_steps=2, min_seconds=0.0)
            return measure_pace(train_steps, evaluate_slice, clock)
    finally:
        run.scaler.load_state_dict(scaler_state)


def _final_eval_passes(run: _Run) -> float:
    """The end of a run in evaluations of the per-epoch split: the chosen weights on validation in every view test-time
    augmentation may use, then the test set in as many views as the choice can need."""
    if not run.has_val:
        return 0.0
    test_share = len(run.test) / len(run.val)
    if not run.config.hyper.tta:
        return test_share
    modes = tta_candidates(run.pixels.mirror)
    return len(distinct_views(modes)) + max(len(TTA_VIEWS[mode]) for mode in modes) * test_share


def _seconds_for_training(run: _Run, deadline: float, clock: Clock, pace: Pace) -> float:
    """What the budget leaves for epochs from now: the time to the deadline less what the run's end is kept."""
    assert run.config.hyper.time_budget is not None
    return deadline - clock() - reserve_seconds(_final_eval_passes(run) * pace.eval_s, run.config.hyper.time_budget)


def _slowest_pace(run: _Run, pace: Pace) -> Pace:
    """The slowest process's pace, on which every process plans the same (this process's own when not distributed)."""
    if run.dist.world == 1:
        return pace
    paces = torch.tensor([pace.step_s, pace.eval_s], dtype=torch.float64, device=run.setup.device)
    torch.distributed.all_reduce(paces, op=torch.distributed.ReduceOp.MAX)
    return Pace(paces[0].item(), paces[1].item(), pace.steps_measured)


def _plan(run: _Run, clock: Clock, deadline: float | None, report: ProgressHook) -> Pace | None:
    """Fix the epochs and the schedule: the recipe's, or as many as fit the time budget at the pace measured now."""
    hyper = run.config.hyper
    pace = None
    if deadline is not None or run.pixels.input_size[1:] not in ((28, 28), (32, 32)):
        pace = _slowest_pace(run, _measure_pace(run, clock, quick=deadline is None))
    if deadline is not None:
        assert pace is not None
        left = _seconds_for_training(run, deadline, clock, pace)
        run.plan = plan_steps(pace, run.steps_per_epoch, left, max_steps=hyper.epochs * run.steps_per_epoch)
        if run.plan.total_steps < run.steps_per_epoch:
            report(Notice(f"one epoch takes about {run.plan.seconds_per_epoch:.0f} s at the pace measured, more than the "
                          f"{max(0.0, left):.0f} s the budget leaves for training: the run trains {run.plan.total_steps:,} "
                          f"of an epoch's {run.steps_per_epoch:,} steps"))  # fmt: skip
        if run.dist.world > 1:  # every process must train the same steps: the main one's plan
            steps = torch.tensor([run.plan.total_steps], device=run.setup.device)
            torch.distributed.broadcast(steps, 0)
            run.plan = Plan.of_steps(int(steps.item()), run.steps_per_epoch, run.plan.seconds_per_epoch)
    else:
        run.plan = Plan(hyper.epochs, hyper.epochs * run.steps_per_epoch)
        if pace is not None:
            minutes = pace.seconds_per_step(run.steps_per_epoch) * run.steps_per_epoch / 60
            report(Notice(f"an epoch of {run.config.model} at {format_shape(run.pixels.input_size)} takes about "
                          f"{minutes:,.1f} minutes here ({minutes * hyper.epochs:,.0f} minutes for {hyper.epochs} epochs); "
                          "--time-budget fits a run to the time you have"))  # fmt: skip
    run.scheduler = _scheduler(run.optimizer, hyper, run.plan, run.steps_per_epoch)
    return pace


def _train_epoch(run: _Run, epoch: int, report: ProgressHook, clock: Clock) -> tuple[EpochMetrics, Pace]:
    """One pass over the shuffled training set (or the part of it the plan leaves for a last epoch cut short), then an
    evaluation on the validation split (else the test set).

    Also returns the epoch's pace: its first steps can pay one-off costs (torch.compile, kernel selection)
    that later epochs do not, so the pace per step is timed on the steps after them, which a budget plans on.
    """
    hyper, setup, dist = run.config.hyper, run.setup, run.dist
    assert run.scheduler is not None
    steps = run.plan.steps_in_epoch(epoch, run.steps_per_epoch)
    generator = torch.Generator(device=setup.device).manual_seed(run.config.seed * 1_000_003 + epoch)
    order = torch.randperm(len(run.train), generator=generator, device=setup.device)[: run.usable][dist.rank :: dist.world]
    order = order[: steps * run.per_rank_batch]
    run.network.train()
    began = clock()
    loss_sum = torch.zeros((), device=setup.device)
    correct = torch.zeros((), dtype=torch.int64, device=setup.device)
    report(EpochStarted(epoch + 1, run.plan.epochs, steps))
    warm_up = min(max(1, steps // 10), steps - 1)  # steps that may pay one-off costs
    warm_began = began
    for step, first in enumerate(range(0, len(order), run.per_rank_batch)):
        index = order[first : first + run.per_rank_batch]
        x = prepare_batch(run.train.images[index], run.pixels, generator if hyper.augment else None)
        y = run.train.labels[index]
        loss, logits = _train_step(run, run.network, run.optimizer, x, y)
        run.scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        report(StepDone(step + 1, loss_sum, correct, first + len(y)))
        if step + 1 == warm_up:
            warm_began = clock()
    totals = torch.stack([loss_sum.float(), correct.float()])
    if dist.world > 1:
        torch.distributed.all_reduce(totals)
        _share_buffers(run.model)
    trained = clock()
    seen = len(order) * dist.world
    evaluation = evaluate(run.model, run.val if run.has_val else run.test, run.pixels, setup, hyper.eval_batch_size)
    figures = {"val_loss": evaluation.loss, "val_acc": evaluation.accuracy} if run.has_val else {
        "test_loss": evaluation.loss, "test_acc": evaluation.accuracy}  # fmt: skip
    if not run.has_val:
        run.confusion = evaluation.confusion
    ended = clock()
    metrics = EpochMetrics(
        epoch=epoch + 1, steps=steps, train_loss=totals[0].item() / seen, train_acc=totals[1].item() / seen,
        seconds=ended - began, images_per_s=seen / (trained - began) if trained > began else 0.0,
        lr=run.optimizer.param_groups[0]["lr"], **figures,
    )  # fmt: skip
    return metrics, Pace((trained - warm_began) / (steps - warm_up), ended - trained, steps - warm_up)


def _share_buffers(model: nn.Module) -> None:
    """Give every process the main one's buffers (batch-norm statistics), as DDP does before each forward.

    Each process's statistics follow its own last batches; evaluated with them, the processes could
    choose different epochs on the validation split and end with different weights.
    """
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer, 0)


def _checkpoint(run: _Run, metrics: EpochMetrics) -> None:
    """Record the epoch; write best.pt when the validation accuracy improved, then last.pt, then metrics.csv.

    last.pt is written last: it is what a resumed run starts from, and the files it names are already there.
    """
    run.metrics.append(metrics)
    improved = run.has_val and metrics.val_acc is not None and metrics.val_acc > run.best_val
    if improved:
        assert metrics.val_acc is not None
        run.best_val, run.best_epoch = metrics.val_acc, metrics.epoch
        run.best_weights = {key: value.detach().clone() for key, value in run.model.state_dict().items()}
    if run.dist.main:
        state = run.state(metrics.epoch)
        if improved:
            save_checkpoint(run.out / "best.pt", state)
        save_checkpoint(run.out / "last.pt", state)
        write_metrics_csv(run.out, run.metrics)


def _replan(run: _Run, done: int, deadline: float, clock: Clock, pace: Pace) -> None:
    """After an epoch of a budgeted run: keep the plan, or stretch or shrink it to end on time at the pace just measured.

    After the first epoch, the first correction of the probe's estimate, and while the one-cycle schedule still
    warms up (its first quarter of steps: stretching it only delays its peak), the plan may grow to the
    recipe's most; later a stretch would raise a rate already annealing, so it grows only back to the most
    it planned. Schedules that do not anneal to a planned end (constant, the 1998 paper's steps per pass)
    may always grow.
    """
    hyper, steps_per_epoch = run.config.hyper, run.steps_per_epoch
    pace = _slowest_pace(run, pace)
    seconds_left = _seconds_for_training(run, deadline, clock, pace)
    if run.dist.world > 1:  # every process plans on the main one's clock
        shared = torch.tensor([seconds_left], dtype=torch.float64, device=run.setup.device)
        torch.distributed.broadcast(shared, 0)
        seconds_left = shared.item()
    run.most_steps_planned = max(run.most_steps_planned, run.plan.total_steps)
    annealing = isinstance(run.scheduler, OneCycle) and done * steps_per_epoch >= _warm_up_steps(run.plan.total_steps)
    ceiling = run.most_steps_planned if annealing and done > 1 else hyper.epochs * steps_per_epoch
    assert hyper.time_budget is not None
    new = replan(run.plan, done, pace, seconds_left, steps_per_epoch, ceiling=ceiling, tolerance_s=replan_tolerance(hyper.time_budget))
    if new.total_steps == run.plan.total_steps:
        return
    if isinstance(run.scheduler, OneCycle):
        if new.total_steps < 4:  # one-cycle divides by its warm-up: too few steps to re-shape, keep the plan
            return
        run.scheduler.replan(new.total_steps)
    run.plan = new


def _finish(run: _Run) -> FinalResult:
    """Evaluate what was chosen on the test set, once; with a validation split, let it choose test-time augmentation."""
    hyper, last = run.config.hyper, run.metrics[-1]
    if not run.has_val:
        assert last.test_acc is not None and last.test_loss is not None
        return FinalResult(last.epoch, None, last.test_acc, last.test_loss, "none", "last.pt")
    if run.best_weights is not None:
        run.model.load_state_dict(run.best_weights)
    tried = _tta_accuracies(run) if hyper.tta else {}
    tta = max(tried, key=tried.__getitem__) if tried else "none"  # the first of the best: candidates come fewest views first
    test = evaluate(run.model, run.test, run.pixels, run.setup, hyper.eval_batch_size, views=TTA_VIEWS[tta])
    run.confusion = test.confusion
    chosen = next(m for m in run.metrics if m.epoch == run.best_epoch)
    chosen.test_loss, chosen.test_acc = test.loss, test.accuracy
    final = FinalResult(run.best_epoch, run.best_val, test.accuracy, test.loss, tta, "best.pt", tried)
    if run.dist.main:  # best.pt records what was chosen and its test figure, for `cnnstat predict`
        best = load_checkpoint(run.out / "best.pt")
        best.pop("flip_tta", None)  # what a checkpoint of an earlier cnnstat said instead of "tta"
        save_checkpoint(run.out / "best.pt", {**best, "final": asdict(final), "tta": tta})
    return final


def _tta_accuracies(run: _Run) -> dict[str, float]:
    """The validation accuracy of every candidate averaging over views, fewest views first (``none`` first).

    Each view of the validation images is evaluated once; every candidate averages those it uses.
    """
    modes = tta_candidates(run.pixels.mirror)
    per_view = {
        view: evaluate(run.model, run.val, run.pixels, run.setup, run.config.hyper.eval_batch_size, views=(view,)).log_probs
        for view in distinct_views(modes)
    }
    labels = run.val.labels.cpu()
    return {mode: scored(average_log_probs([per_view[view] for view in TTA_VIEWS[mode]]), labels).accuracy for mode in modes}


@contextmanager
def _denormals_flushed(setup: DeviceSetup) -> Iterator[None]:
    """On a CPU, tiny gradients early in training underflow to denormals, which x86 handles up to 2× slower.

    The flag is set for this run only; afterwards torch's default (denormals kept) is back.
    """
    flush = setup.device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


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
    if data.info is not dataset_info(config.dataset):
        raise CnnstatError(f"the run trains on {DATASETS[config.dataset].title}, but the data given are {data.info.title}")
    run = _set_up(config, data, out, report)
    hyper = config.hyper
    budgeted = hyper.time_budget is not None and not resume
    deadline = started + hyper.time_budget if budgeted and hyper.time_budget is not None else None
    saved: int | None = None  # the epoch last.pt holds, once it holds one
    try:
        with _denormals_flushed(run.setup):
            pace = None
            if resume:
                _restore(run, load_checkpoint(out / "last.pt"))
            else:
                pace = _plan(run, clock, deadline, report)
                if run.dist.main:  # a folder used again: nothing of an earlier run may outlive this one's start
                    (out / "best.pt").unlink(missing_ok=True)
                    save_checkpoint(out / "last.pt", run.state(0))
                    write_metrics_csv(out, [])
            saved = run.start_epoch
            seconds_left = deadline - clock() if deadline is not None else None
            report(RunStarted(run.setup.description, run.plan.epochs, run.steps_per_epoch, run.start_epoch,
                              run.plan.total_steps, hyper.time_budget if budgeted else None, seconds_left, pace))  # fmt: skip
            epoch = run.start_epoch
            while epoch < run.plan.epochs:
                metrics, epoch_pace = _train_epoch(run, epoch, report, clock)
                epoch += 1
                if deadline is not None:
                    _replan(run, epoch, deadline, clock, epoch_pace)
                _checkpoint(run, metrics)
                saved = epoch
                report(EpochDone(metrics, run.plan.epochs, run.plan.total_steps))
            if not run.metrics:
                raise CnnstatError(f"{out} holds no finished epoch to report")
            final = _finish(run)
    except KeyboardInterrupt:
        raise TrainingInterrupted(_interrupted(config, out, saved, run.plan.epochs, resume)) from None
    return TrainResult(out, run.metrics, final, run.confusion, run.setup.description, data.info.classes, run.plan,
                       _weight_checksums(run.model, run.dist))  # fmt: skip


def _interrupted(config: TrainConfig, out: Path, saved: int | None, epochs: int, resumed: bool) -> str:
    """Where Ctrl-C stopped the run, what last.pt holds, and the command that goes on."""
    resume = f"Resume with: cnnstat train {config.model} --resume --out {out}"
    if saved is None:
        if resumed:  # stopped while it read its checkpoint
            return f"interrupted before training began; {out / 'last.pt'} is as it was. {resume}"
        return "interrupted before the first checkpoint; nothing to resume: run the same command again"
    where = f"in epoch {saved + 1}" if saved < epochs else "during the final evaluation"
    return f"interrupted {where}; {out / 'last.pt'} holds the state after epoch {saved}. {resume}"


def _weight_checksums(model: nn.Module, dist: Distributed) -> list[float]:
    """Sum of every weight, one per process: equal across a DDP job when replicas agree."""
    local = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    if dist.world == 1:
        return [local.item()]
    gathered = [torch.zeros_like(local) for _ in range(dist.world)]
    torch.distributed.all_gather(gathered, local.to(next(model.parameters()).device) if local.device.type == "cpu" else local)
    return [g.item() for g in gathered]

