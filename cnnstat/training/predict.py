"""Predictions of a trained checkpoint: classes of images, or accuracy on its data set's test set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..counting.records import format_shape
from ..devices import select_device
from ..errors import CheckpointError, DataError
from ..zoo import output_features, resolve_model
from .checkpoint import load_checkpoint, load_weights, model_to_build
from .config import TrainConfig, stored_config
from .data import load_dataset
from .datasets import DatasetInfo, dataset_info
from .evaluation import TTA_VIEWS, Evaluation, evaluate, view_log_probs
from .images import Pixels


@dataclass(frozen=True)
class Trained:
    """A model rebuilt from its checkpoint, ready to predict as the run chose to (averaged over views of each image or not)."""

    config: TrainConfig
    model: nn.Module
    pixels: Pixels
    info: DatasetInfo
    tta: str  # a key of TTA_VIEWS


def load_trained(checkpoint: Path, model: str | None = None) -> Trained:
    """The model a checkpoint (or a run folder's best.pt, else last.pt) holds, in eval mode.

    ``model`` names the model to rebuild; without it, the checkpoint's own, which cnnstat builds only
    where it is a zoo or torchvision name (see :func:`model_to_build`).
    """
    state = load_checkpoint(checkpoint)
    config = stored_config(state, checkpoint)
    name = model_to_build(config.model, checkpoint, model)
    module = resolve_model(name, on_meta=False).module
    load_weights(module, state["model"], checkpoint, name)
    size = tuple(state["input_size"])
    try:
        output_features(module, size)
    except Exception:
        raise CheckpointError(f"{checkpoint} says the model takes input {format_shape(size)}, which {name} cannot take") from None
    info = dataset_info(config.dataset)
    return Trained(config, module.eval(), Pixels.for_run(size, config.hyper, info), info, _stored_tta(state, checkpoint))


def _stored_tta(state: dict, checkpoint: Path) -> str:
    """The test-time averaging a checkpoint's run chose; ``flip_tta`` in checkpoints written before shifts were tried."""
    tta = state.get("tta", "mirror" if state.get("flip_tta") is True else "none")
    if tta not in TTA_VIEWS:
        raise CheckpointError(f"{checkpoint} is damaged: its test-time averaging {tta!r} is not one of {', '.join(TTA_VIEWS)}")
    return tta


def load_image(path: Path) -> torch.Tensor:
    """Any PNG/JPEG -> 28×28 grey uint8, as the MNIST family stores its images."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    except FileNotFoundError:
        raise DataError(f"{path}: no such image") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an image") from None
    except Image.DecompressionBombError:  # PIL refuses to decode more than twice MAX_IMAGE_PIXELS, to spare the memory
        raise DataError(f"{path}: the image is too large to read safely (over {2 * Image.MAX_IMAGE_PIXELS:,} pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    return torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).view(28, 28)


def predict_images(trained: Trained, images: list[Path], invert: bool) -> list[tuple[Path, int, str, float]]:
    """(image, class, class name, probability) for each image."""
    batch = torch.stack([load_image(path) for path in images])
    if invert:  # photos are dark on light; the MNIST family is light on dark
        batch = 255 - batch
    with torch.no_grad():
        probabilities = view_log_probs(trained.model, batch, trained.pixels, TTA_VIEWS[trained.tta]).exp()
    predictions = []
    for path, row in zip(images, probabilities, strict=True):
        index = int(row.argmax())
        predictions.append((path, index, trained.info.classes[index], row[index].item()))
    return predictions


def evaluate_test_set(trained: Trained, data_dir: Path | None) -> tuple[Evaluation, int]:
    """The checkpoint's results on its data set's test set, and the set's size."""
    data = load_dataset(trained.info.name, data_dir)
    setup = select_device("cpu")
    evaluation = evaluate(
        trained.model, data.test, trained.pixels, setup, trained.config.hyper.eval_batch_size, views=TTA_VIEWS[trained.tta]
    )
    return evaluation, len(data.test)
