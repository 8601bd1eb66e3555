"""Memory: the bytes a training step keeps for backward, and what training needs in all."""

from __future__ import annotations

from ..errors import CnnstatError
from .records import Trace

#: Every optimizer cnnstat knows, for counting and for training alike: the state it keeps per trainable parameter, in
#: parameter-sized tensors (sgd: none; momentum: SGD's momentum buffer; adam, adamw: two moment estimates).
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
DEFAULT_OPTIMIZER = "adam"


def activation_bytes(trace: Trace) -> list[int]:
    """Per layer: bytes of the storages autograd saved there first, model parameters and buffers left out."""
    counted: set[int] = set()
    per_layer = []
    for layer in trace.layers:
        total = 0
        for saved in layer.saved:
            if saved.model_state or saved.storage in counted:
                continue
            counted.add(saved.storage)
            total += saved.nbytes
        per_layer.append(total)
    return per_layer


def check_optimizer(name: str) -> None:
    """A clear error for an optimizer whose state is not known."""
    if name not in OPTIMIZER_STATES:
        raise CnnstatError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_STATES)}")


def training_bytes(param_bytes: int, trainable_bytes: int, activations: int, optimizer: str) -> int:
    """Parameters, their gradients, the optimizer's state and the saved activations, in bytes."""
    return param_bytes + trainable_bytes * (1 + OPTIMIZER_STATES[optimizer]) + activations
