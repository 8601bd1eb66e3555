"""A model's loss, accuracy and confusion on a split, and test-time augmentation: views of each image averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..devices import DeviceSetup
from .data import Split
from .images import Pixels, View, prepare_batch

CLASSES = 10  # every data set cnnstat trains on has ten; a model's outputs beyond them are left out of loss and answers

PLAIN = (View(),)
_SHIFTS = (View(), View(right=1), View(right=-1), View(down=1), View(down=-1))
# Test-time augmentation: each image's class probabilities averaged over these views of it. One-pixel shifts and
# mirror images are what training augments with; validation decides which, if any, a run keeps.
TTA_VIEWS: dict[str, tuple[View, ...]] = {
    "none": PLAIN,
    "mirror": (View(), View(mirrored=True)),
    "shift": _SHIFTS,
    "mirror+shift": _SHIFTS + tuple(View(True, view.right, view.down) for view in _SHIFTS),
}
TTA_WORDS = {
    "none": "",
    "mirror": "each image averaged with its mirror image",
    "shift": "each image averaged with its four one-pixel shifts",
    "mirror+shift": "each image averaged with its mirror image and the one-pixel shifts of both",
}


def tta_candidates(mirror_allowed: bool) -> tuple[str, ...]:
    """The ways of averaging a run may choose from, fewest views first: no mirror images where the data set forbids them."""
    return tuple(mode for mode in TTA_VIEWS if mirror_allowed or "mirror" not in mode)


def distinct_views(modes: Sequence[str]) -> tuple[View, ...]:
    """Every view that any of ``modes`` uses, once each."""
    return tuple(dict.fromkeys(view for mode in modes for view in TTA_VIEWS[mode]))


@dataclass(frozen=True)
class Evaluation:
    """A model's results on a split."""

    loss: float
    accuracy: float
    confusion: torch.Tensor  # (10, 10): rows true class, columns predicted
    predictions: torch.Tensor  # the predicted class of every image, in order
    log_probs: torch.Tensor  # (N, 10) on the CPU: the averaged class log-probabilities of every image


def class_logits(output: torch.Tensor) -> torch.Tensor:
    """The model's scores for the data set's classes, in float32: the first ten outputs."""
    return output[:, :CLASSES].float()


def average_log_probs(log_probs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The log of the mean class probability over views, from each view's log-probabilities."""
    return torch.logsumexp(torch.stack(list(log_probs)), 0) - math.log(len(log_probs))


def scored(log_probs: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """Loss, accuracy, confusion matrix and predictions of class log-probabilities against the true labels."""
    predicted = log_probs.argmax(1)
    confusion = torch.bincount(labels * CLASSES + predicted, minlength=CLASSES**2).view(CLASSES, CLASSES)
    size = max(1, len(labels))
    loss = F.nll_loss(log_probs, labels, reduction="sum").item() if len(labels) else 0.0
    return Evaluation(loss / size, confusion.diagonal().sum().item() / size, confusion, predicted, log_probs)


def view_log_probs(
    model: nn.Module, images: torch.Tensor, pixels: Pixels, views: Sequence[View], channels_last: bool = False
) -> torch.Tensor:
    """Class log-probabilities of uint8 images, each averaged over ``views`` of it (one forward pass per view)."""
    per_view = []
    for view in views:
        x = prepare_batch(view.apply(images), pixels, None)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        per_view.append(class_logits(model(x)).log_softmax(1))
    return average_log_probs(per_view)


def evaluate(
    model: nn.Module, split: Split, pixels: Pixels, setup: DeviceSetup, batch_size: int = 1000, *, views: Sequence[View] = PLAIN
) -> Evaluation:
    """The model on ``split``, each image's class probabilities averaged over ``views`` of it (one pass per view)."""
    model.eval()
    chunks = []
    with torch.no_grad(), setup.autocast():
        for start in range(0, len(split), batch_size):
            images = split.images[start : start + batch_size]
            chunks.append(view_log_probs(model, images, pixels, views, setup.channels_last))
    # one copy to the host for the whole split, not one per batch (each would wait for the device)
    log_probs = torch.cat(chunks).cpu() if chunks else torch.zeros(0, CLASSES)
    return scored(log_probs, split.labels.cpu())
