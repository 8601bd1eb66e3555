"""Turning a model name into a module and its default inputs, through the first source that claims the name."""

from __future__ import annotations

from contextlib import nullcontext

from torch import nn

from .meta import parameters_on_meta
from .sources import ResolvedModel, source_for


def resolve_model(name: str, *, on_meta: bool = True) -> ResolvedModel:
    """Build the model ``name`` (zoo name, alias, torchvision name or import path) in eval mode.

    On meta (the default) no weight memory is used, however large the model; pass ``on_meta=False``
    for real weights. The builder runs once, either way.
    """
    source = source_for(name)
    with parameters_on_meta() if on_meta else nullcontext():
        resolved = source.resolve(name)
    resolved.module.eval()
    if resolved.model is not None:
        resolved.model.eval()
    return resolved


def output_features(module: nn.Module, input_size: tuple[int, ...]) -> int:
    """Width of a model's output, from one eval-mode forward pass (batch norm statistics untouched)."""
    import torch

    was_training = module.training
    module.eval()
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    with torch.no_grad():
        width = int(module(torch.zeros(1, *input_size, device=device)).shape[-1])
    module.train(was_training)
    return width


__all__ = ["ResolvedModel", "output_features", "resolve_model"]
