"""Training recipes: named sets of hyper-parameters; any option given on the command line wins."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import CnnstatError


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one training run."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str  # sgd | adam | adamw
    schedule: str  # constant | onecycle
    momentum: float = 0.0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False  # random 2-pixel shifts and horizontal flips
    normalize: bool = True  # standardise with Fashion-MNIST's mean and std (else scale to [0, 1])
    init: str = "default"  # default | xavier (the classic sigmoid LeNet recipe initialises conv and linear weights with Xavier)
    amp: bool | None = None  # None: the device's default; True: also bf16 autocast on CPUs with native bf16
    channels_last: bool | None = None  # None: the device's default (on for CUDA); True: also on the CPU
    eval_batch_size: int = 2000


RECIPES: dict[str, Recipe] = {
    # The classic sigmoid LeNet recipe (as taught in Dive into Deep Learning): SGD lr 0.9, batch 256, 20 epochs, Xavier initialisation, pixels in [0, 1].
    "classic": Recipe(
        epochs=20, batch_size=256, lr=0.9, optimizer="sgd", schedule="constant", normalize=False, init="xavier", amp=False
    ),
    # Time to 90% on a CPU: large batches, Adam with a one-cycle schedule, few epochs.
    "fast": Recipe(epochs=2, batch_size=256, lr=0.01, optimizer="adam", schedule="onecycle", label_smoothing=0.05, amp=True),
    # Highest accuracy within minutes: augmentation, AdamW, one-cycle, more epochs.
    # channels_last: oneDNN's bf16 convolutions ran 1.2x faster in NHWC on the CPU here.
    "best": Recipe(
        epochs=15,
        batch_size=128,
        lr=0.004,
        optimizer="adamw",
        schedule="onecycle",
        weight_decay=0.05,
        label_smoothing=0.1,
        augment=True,
        amp=True,
        channels_last=True,
    ),
}
OPTIMIZERS = ("sgd", "adam", "adamw")


def build_recipe(name: str, **overrides: Any) -> Recipe:
    """The named recipe with every non-None override applied."""
    if name not in RECIPES:
        raise CnnstatError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    known = {f.name for f in fields(Recipe)}
    chosen = {key: value for key, value in overrides.items() if value is not None and key in known}
    recipe = replace(RECIPES[name], **chosen)
    if recipe.optimizer not in OPTIMIZERS:
        raise CnnstatError(f"unknown optimizer {recipe.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
        raise CnnstatError("--epochs and --batch-size must be at least 1 and --lr positive")
    return recipe
