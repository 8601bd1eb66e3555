"""A run's configuration: everything that defines it, stored in its checkpoints and read back from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..device_choices import DEFAULT_DEVICE
from ..errors import CheckpointError
from .datasets import DEFAULT_DATASET
from .recipes import Recipe, recipe_from_dict


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; stored in its checkpoints."""

    model: str
    recipe: str
    hyper: Recipe
    device: str = DEFAULT_DEVICE
    seed: int = 0
    limit: int | None = None
    dataset: str = DEFAULT_DATASET
    input_size: tuple[int, ...] | None = None  # None: the model's own, or a smaller one for ImageNet-sized models

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
