"""Setting a run up: device (with denormals flushed on a CPU), model at its input size, data on the device, optimizer and
loss scaler; and one step of it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..counting.records import format_shape
from ..devices import DeviceSetup, select_device
from ..errors import CnnstatError
from ..zoo import output_features, resolve_model
from .budget import Clock, Plan
from .config import TrainConfig
from .data import ImageData, Split, validation_split
from .datasets import DatasetInfo
from .distributed import Distributed, join
from .evaluation import CLASSES, class_logits
from .events import Notice, ProgressHook
from .images import Pixels, prepare_batch
from .initialisation import initialise
from .metrics import EpochMetrics
from .optimizers import build_optimizer
from .recipes import compile_mode_for
from .schedules import Schedule

SMALL_INPUT = (64, 64)  # ImageNet-sized models train at this size by default: 28×28 images only gain blur beyond it


@dataclass
class Run:
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
    scheduler: Schedule | None = None
    metrics: list[EpochMetrics] = field(default_factory=list)
    start_epoch: int = 0
    most_steps_planned: int = 0  # under a budget: a slow epoch may cut the plan, and a later re-plan grow it back to this
    best_val: float = -1.0
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    confusion: torch.Tensor = field(default_factory=lambda: torch.zeros(10, 10, dtype=torch.int64))  # of the last test evaluation
    compiled: bool = False  # the network is torch.compile'd (on CUDA, where the recipe says so)

    @property
    def has_val(self) -> bool:
        return len(self.val) > 0


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
    initialise(resolved.module, config.hyper.init)
    return resolved.module, input_size


def _splits(config: TrainConfig, data: ImageData) -> tuple[Split, Split]:
    """(training, validation): the validation images are held out first, then --limit takes the first training images."""
    train, val = validation_split(data.train, config.hyper.val)
    if config.limit is not None:
        train = train.take(slice(0, config.limit))
    return train, val


def set_up(config: TrainConfig, data: ImageData, out: Path, report: ProgressHook) -> Run:
    """Device, model, data on the device, optimizer and loss scaler; the schedule comes with the plan."""
    hyper = config.hyper
    dist = Distributed.from_env()
    join(dist, config.device)
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
    compiled = hyper.compile and setup.device.type == "cuda"
    if compiled:
        network = torch.compile(network, mode=compile_mode_for(hyper, dist.world))  # type: ignore[assignment]
    return Run(
        config, out, dist, setup, Pixels.for_run(input_size, hyper, data.info), model, network, build_optimizer(model, hyper),
        # fp16 gradients underflow without loss scaling; bf16 and float32 need none
        torch.amp.GradScaler(setup.device.type, enabled=setup.amp_dtype == torch.float16),
        train_split.to(setup.device), val_split.to(setup.device), data.test.to(setup.device),
        usable, per_rank_batch, math.ceil(usable // dist.world / per_rank_batch), compiled=compiled,
    )  # fmt: skip


def forward_loss(run: Run, network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss and the logits of a batch, under the run's mixed precision and memory format."""
    if run.setup.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with run.setup.autocast():
        logits = class_logits(network(x))
        return F.cross_entropy(logits, y, label_smoothing=run.config.hyper.label_smoothing), logits


def train_step(
    run: Run, network: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch; the loss and logits, still on the device."""
    loss, logits = forward_loss(run, network, x, y)
    optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(optimizer)
    run.scaler.update()
    return loss, logits


COMPILE_CALLS = 3  # CUDA graph trees run a compiled graph once eagerly, then record it, then replay it


def compile_ahead(run: Run, clock: Clock) -> float | None:
    """Compile the run's step before training and return the seconds it took (None where nothing is compiled).

    Forward and backward passes on a batch of the training shape, without an optimiser step; the weights, the
    batch norm statistics, the gradients and every random state are put back, so the run trains as it would have.
    """
    if not run.compiled:
        return None
    kept = {name: value.clone() for name, value in run.model.state_dict().items()}
    images = run.train.take(slice(0, run.per_rank_batch))
    x = prepare_batch(images.images, run.pixels, None)
    began = clock()
    with torch.random.fork_rng(devices=[run.setup.device] if run.setup.device.type == "cuda" else []):
        run.network.train()
        for _ in range(COMPILE_CALLS):
            loss, _ = forward_loss(run, run.network, x, images.labels)
            loss.backward()
        loss.item()  # wait for the device
    seconds = clock() - began
    run.model.load_state_dict(kept)
    run.optimizer.zero_grad(set_to_none=True)
    return seconds


@contextmanager
def denormals_flushed(setup: DeviceSetup) -> Iterator[None]:
    """On a CPU, tiny gradients early in training underflow to denormals, which x86 handles up to 2× slower.

    The flag is set for this run only; afterwards torch's default (denormals kept) is back.
    """
    flush = setup.device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)
