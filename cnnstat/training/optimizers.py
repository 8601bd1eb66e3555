"""Optimizers by name, a registry as conventions are; the names are those whose state ``counting.memory`` counts."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..counting.registry import Registry
from ..errors import CnnstatError
from .recipes import Recipe

OptimizerBuilder = Callable[[list[torch.nn.Parameter], Recipe], torch.optim.Optimizer]
OPTIMIZERS: Registry[str, OptimizerBuilder] = Registry("optimizer")


def build_optimizer(model: torch.nn.Module, hyper: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``model``'s trainable parameters, at its (peak) learning rate and weight decay."""
    builder = OPTIMIZERS.get(hyper.optimizer)
    if builder is None:
        raise CnnstatError(f"unknown optimizer {hyper.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    return builder([p for p in model.parameters() if p.requires_grad], hyper)


def _fused(parameters: list[torch.nn.Parameter]) -> dict[str, bool]:
    """On a GPU, one kernel for the whole update instead of a few per tensor: a small model's step is launch-bound there."""
    return {"fused": True} if parameters and parameters[0].is_cuda else {}


OPTIMIZERS.register(
    "sgd", lambda parameters, hyper: torch.optim.SGD(parameters, lr=hyper.lr, weight_decay=hyper.weight_decay, **_fused(parameters))
)
OPTIMIZERS.register(
    "momentum",
    lambda parameters, hyper: torch.optim.SGD(
        parameters, lr=hyper.lr, momentum=hyper.momentum, weight_decay=hyper.weight_decay, **_fused(parameters)
    ),
)
OPTIMIZERS.register(
    "adam", lambda parameters, hyper: torch.optim.Adam(parameters, lr=hyper.lr, weight_decay=hyper.weight_decay, **_fused(parameters))
)
OPTIMIZERS.register(
    "adamw", lambda parameters, hyper: torch.optim.AdamW(parameters, lr=hyper.lr, weight_decay=hyper.weight_decay, **_fused(parameters))
)
