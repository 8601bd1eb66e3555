"""Predictions of a trained checkpoint: classes of images, or accuracy on the test set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..devices import select_device
from ..errors import DataError
from ..zoo import resolve_model
from .checkpoint import load_checkpoint
from .data import CLASSES, load_fashion_mnist
from .loop import Evaluation, TrainConfig, evaluate, prepare_batch


@dataclass(frozen=True)
class Trained:
    """A model rebuilt from its checkpoint, ready to predict."""

    config: TrainConfig
    model: nn.Module
    input_size: tuple[int, ...]


def load_trained(checkpoint: Path) -> Trained:
    """The model a checkpoint (or a run folder's best.pt) holds, in eval mode."""
    state = load_checkpoint(checkpoint)
    config = TrainConfig.from_dict(state["config"])
    resolved = resolve_model(config.model, on_meta=False)
    resolved.module.load_state_dict(state["model"])
    return Trained(config, resolved.module.eval(), tuple(state["input_size"]))


def load_image(path: Path) -> torch.Tensor:
    """Any PNG/JPEG -> 28×28 grey uint8, as Fashion-MNIST stores its images."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    except FileNotFoundError:
        raise DataError(f"{path}: no such image") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    return torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).view(28, 28)


def predict_images(trained: Trained, images: list[Path], invert: bool) -> list[tuple[Path, int, str, float]]:
    """(image, class, class name, probability) for each image."""
    batch = torch.stack([load_image(path) for path in images])
    if invert:  # photos are dark on light; Fashion-MNIST is light on dark
        batch = 255 - batch
    with torch.no_grad():
        probabilities = trained.model(prepare_batch(batch, trained.input_size, trained.config.hyper, None)).float().softmax(1)
    predictions = []
    for path, row in zip(images, probabilities, strict=True):
        index = int(row.argmax())
        predictions.append((path, index, CLASSES[index], row[index].item()))
    return predictions


def evaluate_test_set(trained: Trained, data_dir: Path | None) -> tuple[Evaluation, int]:
    """The checkpoint's results on the Fashion-MNIST test set, and its size."""
    data = load_fashion_mnist(data_dir)
    return evaluate(trained.model, data.test, trained.input_size, trained.config.hyper, select_device("cpu")), len(data.test)
