"""Training on Fashion-MNIST: the whole set held on the device, batches sliced from a seeded shuffle.

Every epoch draws its permutation and augmentation from a generator seeded with (seed, epoch), and
checkpoints carry the global RNG state, so a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint
from .data import FashionMNIST, Split
from .devices import DeviceSetup, select_device
from .errors import CheckpointError, CnnstatError
from .recipes import Recipe
from .zoo import output_features, resolve_model

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


ProgressHook = Callable[[str, dict[str, Any]], None]


def train(
    config: TrainConfig, data: FashionMNIST, out: Path, *, resume: bool = False, progress: ProgressHook | None = None
) -> TrainResult:
    """Train ``config.model`` on ``data``, writing metrics and checkpoints to ``out``."""
    report = progress or (lambda event, fields: None)
    hyper = config.hyper
    dist = Distributed.from_env()
    if dist.world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if config.device in ("auto", "cuda") and torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    setup = select_device(config.device, amp=hyper.amp, channels_last=hyper.channels_last)
    if setup.device.type == "cuda":
        setup = DeviceSetup(torch.device("cuda", dist.local_rank), setup.amp_dtype, setup.channels_last)
        torch.cuda.set_device(setup.device)

    torch.manual_seed(config.seed)
    resolved = resolve_model(config.model, on_meta=False)
    if resolved.input_size is None:
        raise CnnstatError(f"{config.model} has no default input size; give it an input_size attribute")
    outputs = output_features(resolved.module, resolved.input_size)
    if outputs < 10:
        raise CnnstatError(f"{config.model} has {outputs} outputs; Fashion-MNIST has 10 classes")
    if outputs > 10:
        report("warning", {"message": f"{config.model} has {outputs} outputs; only the first 10 are Fashion-MNIST's classes"})
    if resolved.input_size[1:] not in ((28, 28), (32, 32)):
        report(
            "warning", {"message": f"{config.model} takes {resolved.input_size}: images are resized, which costs much CPU time"}
        )
    model = resolved.module
    _initialise(model, hyper.init)
    model.to(setup.device)
    if setup.channels_last:
        model.to(memory_format=torch.channels_last)

    train_split = (
        data.train if config.limit is None else Split(data.train.images[: config.limit], data.train.labels[: config.limit])
    )
    train_images, train_labels = train_split.images.to(setup.device), train_split.labels.to(setup.device)
    test = Split(data.test.images.to(setup.device), data.test.labels.to(setup.device))
    usable = len(train_split) - len(train_split) % dist.world
    per_rank_batch = max(1, hyper.batch_size // dist.world)
    steps_per_epoch = math.ceil(usable // dist.world / per_rank_batch)

    optimizer = _optimizer(model, hyper)
    scheduler = _scheduler(optimizer, hyper, steps_per_epoch)
    metrics: list[EpochMetrics] = []
    start_epoch, best_acc = 0, -1.0
    if resume:
        state = load_checkpoint(out / "last.pt")
        if TrainConfig.from_dict(state["config"]) != config:
            raise CheckpointError(f"{out}/last.pt was written by another configuration; resume with the same options")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        metrics = [EpochMetrics(**m) for m in state["metrics"]]
        start_epoch, best_acc = state["epoch"], state["best_acc"]
    network = torch.nn.parallel.DistributedDataParallel(model) if dist.world > 1 else model

    def checkpoint(epoch: int) -> dict[str, Any]:
        return {
            "config": config.to_dict(), "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(), "metrics": [asdict(m) for m in metrics],
            "best_acc": best_acc, "input_size": list(resolved.input_size), "classes": 10,
        }  # fmt: skip

    if dist.main and not resume:
        save_checkpoint(out / "last.pt", checkpoint(0))
    report("start", {"device": setup.description, "epochs": hyper.epochs, "steps": steps_per_epoch, "start_epoch": start_epoch})
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, hyper.epochs):
            generator = torch.Generator(device=setup.device).manual_seed(config.seed * 1_000_003 + epoch)
            order = torch.randperm(len(train_split), generator=generator, device=setup.device)[:usable][dist.rank :: dist.world]
            network.train()
            began = time.perf_counter()
            loss_sum = torch.zeros((), device=setup.device)
            correct = torch.zeros((), dtype=torch.int64, device=setup.device)
            report("epoch", {"epoch": epoch + 1})
            for step, first in enumerate(range(0, len(order), per_rank_batch)):
                index = order[first : first + per_rank_batch]
                x = prepare_batch(train_images[index], resolved.input_size, hyper, generator if hyper.augment else None)
                y = train_labels[index]
                if setup.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with setup.autocast():
                    logits = network(x)
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=hyper.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach() * len(y)
                correct += (logits.argmax(1) == y).sum()
                report("step", {"step": step + 1, "loss": loss_sum, "correct": correct, "seen": first + len(y)})
            totals = torch.stack([loss_sum.float(), correct.float()])
            if dist.world > 1:
                torch.distributed.all_reduce(totals)
            seconds = time.perf_counter() - began
            evaluation = evaluate(model, test, resolved.input_size, hyper, setup)
            test_loss, test_acc, confusion = evaluation.loss, evaluation.accuracy, evaluation.confusion
            metrics.append(EpochMetrics(
                epoch=epoch + 1, train_loss=totals[0].item() / usable, train_acc=totals[1].item() / usable,
                test_loss=test_loss, test_acc=test_acc, seconds=seconds, images_per_s=usable / seconds,
                lr=optimizer.param_groups[0]["lr"],
            ))  # fmt: skip
            improved = test_acc > best_acc
            best_acc = max(best_acc, test_acc)
            if dist.main:
                state = checkpoint(epoch + 1)
                save_checkpoint(out / "last.pt", state)
                if improved:
                    save_checkpoint(out / "best.pt", state)
            report("epoch_end", {"metrics": metrics[-1]})
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted in epoch {epoch + 1}; {out / 'last.pt'} holds the state after epoch {epoch}. "
            f"Resume with: cnnstat train {config.model} --resume --out {out}"
        ) from None
    checksums = _weight_checksums(model, dist)
    return TrainResult(out, metrics, confusion, setup.description, checksums)


def _weight_checksums(model: nn.Module, dist: Distributed) -> list[float]:
    """Sum of every weight, one per process: equal across a DDP job when replicas agree."""
    local = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    if dist.world == 1:
        return [local.item()]
    gathered = [torch.zeros_like(local) for _ in range(dist.world)]
    torch.distributed.all_gather(gathered, local.to(next(model.parameters()).device) if local.device.type == "cpu" else local)
    return [g.item() for g in gathered]
