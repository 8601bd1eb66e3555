"""Turning a model name into a module and a default input: zoo, then torchvision, then import paths."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ModelLoadError, UnknownModelError
from .meta import parameters_on_meta
from .registry import ModelEntry, get_entry, known_names
from .torchvision_builders import standalone_torchvision_builders

DEFAULT_IMAGENET_INPUT = (3, 224, 224)


@dataclass(frozen=True)
class TorchvisionFigures:
    """What torchvision publishes for a model's first weights: parameters and MACs (rounded)."""

    num_params: int
    gmacs: float | None
    input_size: tuple[int, int, int]


@dataclass
class ResolvedModel:
    """A built model with the name it was asked by and the input it takes by default."""

    name: str
    module: nn.Module
    input_size: tuple[int, int, int] | None
    entry: ModelEntry | None = None
    torchvision_name: str | None = None


def torchvision_classification_models() -> list[str]:
    """Every classification model torchvision can build."""
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models)


def torchvision_figures(name: str) -> TorchvisionFigures | None:
    """torchvision's published figures for ``name``, or None where it publishes no weights."""
    import torchvision.models

    try:
        weights = list(torchvision.models.get_model_weights(name))
    except (ValueError, KeyError):
        return None
    if not weights:
        return None
    first = weights[0]
    crop = first.transforms.keywords.get("crop_size", 224)
    return TorchvisionFigures(num_params=first.meta["num_params"], gmacs=first.meta.get("_ops"), input_size=(3, crop, crop))


def _instantiate(obj: Any, where: str) -> nn.Module:
    """An ``nn.Module`` from an instance, a class or a function that returns one."""
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        try:
            built = obj()
        except TypeError as error:
            raise ModelLoadError(f"{where} cannot be called without arguments: {error}") from None
        if isinstance(built, nn.Module):
            return built
        raise ModelLoadError(f"{where}() returned {type(built).__name__}, not a torch.nn.Module")
    raise ModelLoadError(f"{where} is a {type(obj).__name__}, not a module, class or builder")


def _import_attr(spec: str) -> Any:
    """Load ``package.module:attr`` or ``path/to/file.py:attr``."""
    location, _, attr = spec.rpartition(":")
    if not location or not attr:
        raise ModelLoadError(f"cannot read {spec!r}: expected package.module:attr or path/file.py:attr")
    if location.endswith(".py"):
        path = Path(location)
        if not path.is_file():
            raise ModelLoadError(f"no such file: {location}")
        module_name = f"cnnstat_user_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as error:  # a user's file may fail in any way; say where
            raise ModelLoadError(f"importing {location} failed: {type(error).__name__}: {error}") from None
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")  # let `pkg.mod:attr` find packages in the working folder
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise ModelLoadError(f"cannot import {location}: {error}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelLoadError(f"{location} has no attribute {attr!r}") from None


def suggest(name: str) -> str:
    """A hint naming the closest known model names."""
    candidates = list(dict.fromkeys(known_names() + torchvision_classification_models()))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else "; `cnnstat models` lists them"


def _build(name: str) -> ResolvedModel:
    entry = get_entry(name)
    if entry is not None:
        return ResolvedModel(entry.name, entry.builder(), entry.input_size, entry=entry)
    if ":" in name:
        obj = _import_attr(name)
        module = _instantiate(obj, name)
        size = getattr(obj, "input_size", None) or getattr(module, "input_size", None)
        return ResolvedModel(name, module, tuple(size) if size else None)
    import torchvision.models

    if name in torchvision_classification_models():
        module = torchvision.models.get_model(name, weights=None)
        figures = torchvision_figures(name)
        size = figures.input_size if figures else DEFAULT_IMAGENET_INPUT
        image_size = getattr(module, "image_size", None)  # ViTs built without weights fix their own size
        if isinstance(image_size, int):
            size = (3, image_size, image_size)
        return ResolvedModel(name, module, size, torchvision_name=name)
    raise UnknownModelError(f"unknown model {name!r}{suggest(name)}")


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


def resolve_model(name: str, *, on_meta: bool = True) -> ResolvedModel:
    """Build the model ``name`` (zoo name, alias, torchvision name or import path) in eval mode.

    On meta (the default) no weight memory is used, and the classics load only their own
    torchvision file (see ``torchvision_builders``); pass ``on_meta=False`` for real weights.
    """
    if on_meta:
        with parameters_on_meta(), standalone_torchvision_builders():
            resolved = _build(name)
    else:
        resolved = _build(name)
    resolved.module.eval()
    return resolved
