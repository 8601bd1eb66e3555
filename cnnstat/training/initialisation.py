"""Weight initialisations by name, a registry as conventions are: ``default`` keeps each layer's own."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..counting.registry import Registry
from ..errors import CnnstatError

INITIALISATIONS: Registry[str, Callable[[nn.Module], None]] = Registry("initialisation")


def initialise(model: nn.Module, name: str) -> None:
    """Initialise ``model``'s weights in place as ``name`` says."""
    initialiser = INITIALISATIONS.get(name)
    if initialiser is None:
        raise CnnstatError(f"unknown initialisation {name!r}; choose one of {', '.join(INITIALISATIONS)}")
    initialiser(model)


def _xavier(model: nn.Module) -> None:
    """Xavier-uniform weights for every convolution and linear layer (biases as they are), as the classic recipe has it."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)


INITIALISATIONS.register("default", lambda model: None)
INITIALISATIONS.register("xavier", _xavier)
