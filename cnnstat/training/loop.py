"""The training loop: set a run up, train it epoch by epoch, checkpoint after each, report typed events.

The whole data set is held on the device and batches are sliced from a seeded shuffle. Every
epoch draws its permutation and augmentation from a generator seeded with (seed, epoch), and
checkpoints carry the global RNG state, so a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

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

from ..devices import DeviceSetup, select_device
from ..errors import CheckpointError, CnnstatError
from ..zoo import output_features, resolve_model
from .checkpoint import load_checkpoint, save_checkpoint
from .data import FashionMNIST, Split
from .recipes import Recipe

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics in [0, 1]


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

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hyper": asdict(self.hyper)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TrainConfig:
        return TrainConfig(**{**data, "hyper": Recipe(**data["hyper"])})


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    seconds: float
    images_per_s: float
    lr: float


# -- progress events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """Something the user should know before training starts."""

    message: str


@dataclass(frozen=True)
class RunStarted:
    device: str
    epochs: int
    steps: int
    start_epoch: int


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # counted from 1


@dataclass(frozen=True)
class StepDone:
    step: int  # counted from 1 within the epoch
    loss_sum: torch.Tensor  # on the device: reading it synchronises, so a listener decides when
    correct: torch.Tensor
    seen: int


@dataclass(frozen=True)
class EpochDone:
    metrics: EpochMetrics


ProgressEvent = Notice | RunStarted | EpochStarted | StepDone | EpochDone
ProgressHook = Callable[[ProgressEvent], None]


@dataclass
class TrainResult:
    """What a run produced."""

    out: Path
    metrics: list[EpochMetrics]
    confusion: torch.Tensor  # (10, 10): rows true class, columns predicted, on the test set
    device: str
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


# -- data on the device --------------------------------------------------------------------------


def prepare_batch(
    images: torch.Tensor, input_size: tuple[int, ...], hyper: Recipe, generator: torch.Generator | None
) -> torch.Tensor:
    """uint8 (N, 28, 28) -> the model's float input: augment, pad to 32 or resize, normalise, repeat channels."""
    x = images.unsqueeze(1).float().div_(255)
    if generator is not None:
        x = _augment(x, generator)
    channels, height, width = input_size
    if (height, width) == (32, 32):
        x = F.pad(x, (2, 2, 2, 2))  # the 1998 paper's 32×32 field, background around the digit
    elif (height, width) != (28, 28):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    if hyper.normalize:
        x = (x - MEAN) / STD
    return x.expand(-1, channels, -1, -1) if channels != 1 else x


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels and horizontal flips, drawn per image."""
    n, _, size, _ = x.shape
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = torch.randint(0, 5, (2, n), generator=generator, device=generator.device).to(x.device)
    steps = torch.arange(size, device=x.device)
    rows = (offsets[0, :, None] + steps)[:, :, None]
    cols = (offsets[1, :, None] + steps)[:, None, :]
    shifted = padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(n, generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], shifted.flip(-1), shifted)


# -- the parts of a run ----------------------------------------------------------------------------


def _initialise(model: nn.Module, init: str) -> None:
    if init == "xavier":
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)


def _optimizer(model: nn.Module, hyper: Recipe) -> torch.optim.Optimizer:
    if hyper.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=hyper.lr, momentum=hyper.momentum, weight_decay=hyper.weight_decay)
    if hyper.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=hyper.lr, weight_decay=hyper.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=hyper.lr, weight_decay=hyper.weight_decay)


def _scheduler(optimizer: torch.optim.Optimizer, hyper: Recipe, steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    total = hyper.epochs * steps_per_epoch
    if hyper.schedule == "onecycle" and total >= 4:
        # a quarter of the steps to warm up, and at least two: OneCycleLR divides by the warm-up length
        warm_up = max(2, round(0.25 * total))
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hyper.lr, total_steps=total, pct_start=warm_up / total)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


@dataclass(frozen=True)
class Evaluation:
    """A model's results on a split."""

    loss: float
    accuracy: float
    confusion: torch.Tensor  # (10, 10): rows true class, columns predicted
    predictions: torch.Tensor  # the predicted class of every image, in order


def evaluate(model: nn.Module, split: Split, input_size: tuple[int, ...], hyper: Recipe, setup: DeviceSetup) -> Evaluation:
    """Loss, accuracy, confusion matrix and per-image predictions on ``split``."""
    model.eval()
    loss_sum = torch.zeros((), device=setup.device)
    predictions = []
    with torch.no_grad(), setup.autocast():
        for start in range(0, len(split), hyper.eval_batch_size):
            images = split.images[start : start + hyper.eval_batch_size]
            labels = split.labels[start : start + hyper.eval_batch_size]
            x = prepare_batch(images, input_size, hyper, None)
            if setup.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            predictions.append(logits.argmax(1))
    predicted = torch.cat(predictions)
    confusion = torch.bincount(split.labels * 10 + predicted, minlength=100).view(10, 10)
    correct = confusion.diagonal().sum().item()
    return Evaluation(loss_sum.item() / len(split), correct / len(split), confusion.cpu(), predicted.cpu())


@dataclass
class _Run:
    """Everything one run trains with, and where it stands."""

    config: TrainConfig
    out: Path
    dist: Distributed
    setup: DeviceSetup
    input_size: tuple[int, ...]
    model: nn.Module
    network: nn.Module  # the model, wrapped for DDP when distributed
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test: Split
    usable: int  # training images per epoch, a multiple of the world size
    per_rank_batch: int
    steps_per_epoch: int
    metrics: list[EpochMetrics] = field(default_factory=list)
    start_epoch: int = 0
    best_acc: float = -1.0
    confusion: torch.Tensor = field(default_factory=lambda: torch.zeros(10, 10, dtype=torch.int64))  # of the last evaluation

    def state(self, epoch: int) -> dict[str, Any]:
        """What a checkpoint holds after ``epoch`` epochs."""
        return {
            "config": self.config.to_dict(), "epoch": epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": torch.get_rng_state(), "metrics": [asdict(m) for m in self.metrics],
            "best_acc": self.best_acc, "input_size": list(self.input_size), "classes": 10,
        }  # fmt: skip


def _model(config: TrainConfig, report: ProgressHook) -> tuple[nn.Module, tuple[int, ...]]:
    """The model, initialised as the recipe says, after checking it fits Fashion-MNIST."""
    torch.manual_seed(config.seed)
    resolved = resolve_model(config.model, on_meta=False)
    if resolved.input_size is None or len(resolved.input_size) != 3:
        raise CnnstatError(f"{config.model} takes no image input cnnstat knows; give it an input_size attribute (C, H, W)")
    input_size = resolved.input_size
    outputs = output_features(resolved.module, input_size)
    if outputs < 10:
        raise CnnstatError(f"{config.model} has {outputs} outputs; Fashion-MNIST has 10 classes")
    if outputs > 10:
        report(Notice(f"{config.model} has {outputs} outputs; only the first 10 are Fashion-MNIST's classes"))
    if input_size[1:] not in ((28, 28), (32, 32)):
        report(Notice(f"{config.model} takes {input_size}: images are resized, which costs much CPU time"))
    _initialise(resolved.module, config.hyper.init)
    return resolved.module, input_size


def _set_up(config: TrainConfig, data: FashionMNIST, out: Path, resume: bool, report: ProgressHook) -> _Run:
    """Device, model, data on the device, optimizer, schedule and loss scaler; the checkpoint's state on resume."""
    hyper = config.hyper
    dist = Distributed.from_env()
    if dist.world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if config.device in ("auto", "cuda") and torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    setup = select_device(config.device, amp=hyper.amp, channels_last=hyper.channels_last)
    if setup.device.type == "cuda":
        setup = DeviceSetup(torch.device("cuda", dist.local_rank), setup.amp_dtype, setup.channels_last)
        torch.cuda.set_device(setup.device)
    model, input_size = _model(config, report)
    model.to(setup.device)
    if setup.channels_last:
        model.to(memory_format=torch.channels_last)
    train_split = data.train if config.limit is None else Split(data.train.images[: config.limit], data.train.labels[: config.limit])
    usable = len(train_split) - len(train_split) % dist.world
    per_rank_batch = max(1, hyper.batch_size // dist.world)
    optimizer = _optimizer(model, hyper)
    steps_per_epoch = math.ceil(usable // dist.world / per_rank_batch)
    run = _Run(
        config, out, dist, setup, input_size, model,
        torch.nn.parallel.DistributedDataParallel(model) if dist.world > 1 else model,
        optimizer, _scheduler(optimizer, hyper, steps_per_epoch),
        # fp16 gradients underflow without loss scaling; bf16 and float32 need none
        torch.amp.GradScaler(setup.device.type, enabled=setup.amp_dtype == torch.float16),
        train_split.images.to(setup.device), train_split.labels.to(setup.device),
        Split(data.test.images.to(setup.device), data.test.labels.to(setup.device)),
        usable, per_rank_batch, steps_per_epoch,
    )  # fmt: skip
    if resume:
        _restore(run, load_checkpoint(out / "last.pt"))
    elif dist.main:
        save_checkpoint(out / "last.pt", run.state(0))
    return run


def _restore(run: _Run, state: dict[str, Any]) -> None:
    if TrainConfig.from_dict(state["config"]) != run.config:
        raise CheckpointError(f"{run.out}/last.pt was written by another configuration; resume with the same options")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if "scaler" in state:
        run.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])
    run.metrics = [EpochMetrics(**m) for m in state["metrics"]]
    run.start_epoch, run.best_acc = state["epoch"], state["best_acc"]


def _train_epoch(run: _Run, epoch: int, report: ProgressHook) -> EpochMetrics:
    """One pass over the shuffled training set, then an evaluation on the test set."""
    hyper, setup, dist = run.config.hyper, run.setup, run.dist
    generator = torch.Generator(device=setup.device).manual_seed(run.config.seed * 1_000_003 + epoch)
    order = torch.randperm(len(run.train_labels), generator=generator, device=setup.device)[: run.usable][dist.rank :: dist.world]
    run.network.train()
    began = time.perf_counter()
    loss_sum = torch.zeros((), device=setup.device)
    correct = torch.zeros((), dtype=torch.int64, device=setup.device)
    report(EpochStarted(epoch + 1))
    for step, first in enumerate(range(0, len(order), run.per_rank_batch)):
        index = order[first : first + run.per_rank_batch]
        x = prepare_batch(run.train_images[index], run.input_size, hyper, generator if hyper.augment else None)
        y = run.train_labels[index]
        if setup.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with setup.autocast():
            logits = run.network(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=hyper.label_smoothing)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        report(StepDone(step + 1, loss_sum, correct, first + len(y)))
    totals = torch.stack([loss_sum.float(), correct.float()])
    if dist.world > 1:
        torch.distributed.all_reduce(totals)
    seconds = time.perf_counter() - began
    evaluation = evaluate(run.model, run.test, run.input_size, hyper, setup)
    run.confusion = evaluation.confusion
    return EpochMetrics(
        epoch=epoch + 1, train_loss=totals[0].item() / run.usable, train_acc=totals[1].item() / run.usable,
        test_loss=evaluation.loss, test_acc=evaluation.accuracy, seconds=seconds, images_per_s=run.usable / seconds,
        lr=run.optimizer.param_groups[0]["lr"],
    )  # fmt: skip


def _checkpoint(run: _Run, metrics: EpochMetrics) -> None:
    """Record the epoch; write last.pt, and best.pt when it improved."""
    run.metrics.append(metrics)
    improved = metrics.test_acc > run.best_acc
    run.best_acc = max(run.best_acc, metrics.test_acc)
    if run.dist.main:
        state = run.state(metrics.epoch)
        save_checkpoint(run.out / "last.pt", state)
        if improved:
            save_checkpoint(run.out / "best.pt", state)


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
    config: TrainConfig, data: FashionMNIST, out: Path, *, resume: bool = False, progress: ProgressHook | None = None
) -> TrainResult:
    """Train ``config.model`` on ``data``, writing metrics and checkpoints to ``out``."""
    report: ProgressHook = progress or (lambda event: None)
    run = _set_up(config, data, out, resume, report)
    report(RunStarted(run.setup.description, config.hyper.epochs, run.steps_per_epoch, run.start_epoch))
    epoch = run.start_epoch
    try:
        with _denormals_flushed(run.setup):
            for epoch in range(run.start_epoch, config.hyper.epochs):
                metrics = _train_epoch(run, epoch, report)
                _checkpoint(run, metrics)
                report(EpochDone(metrics))
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted in epoch {epoch + 1}; {out / 'last.pt'} holds the state after epoch {epoch}. "
            f"Resume with: cnnstat train {config.model} --resume --out {out}"
        ) from None
    return TrainResult(out, run.metrics, run.confusion, run.setup.description, _weight_checksums(run.model, run.dist))


def _weight_checksums(model: nn.Module, dist: Distributed) -> list[float]:
    """Sum of every weight, one per process: equal across a DDP job when replicas agree."""
    local = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    if dist.world == 1:
        return [local.item()]
    gathered = [torch.zeros_like(local) for _ in range(dist.world)]
    torch.distributed.all_gather(gathered, local.to(next(model.parameters()).device) if local.device.type == "cpu" else local)
    return [g.item() for g in gathered]
