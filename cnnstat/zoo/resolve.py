"""Turning a model name into a module and its default inputs: zoo, then torchvision, then import paths."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..counting.inputs import InputSpec, specs_from_sizes
from ..counting.trace import exit_call
from ..errors import CnnstatError, ModelLoadError, UnknownModelError
from .detection import CountedDetector
from .meta import parameters_on_meta
from .registry import ModelEntry, get_entry, known_names
from .torchvision_models import build_torchvision_model, torchvision_default_inputs, torchvision_families, torchvision_model_names


@dataclass
class ResolvedModel:
    """A built model with the name it was asked by and the inputs it takes by default.

    ``module`` is what is counted; ``model`` what a user runs (they differ for detectors, whose
    data-dependent parts cannot be counted from a shape); ``notes`` say what the count covers.
    """

    name: str
    module: nn.Module
    inputs: tuple[InputSpec, ...] | None
    entry: ModelEntry | None = None
    torchvision_name: str | None = None
    model: nn.Module | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = self.module

    @property
    def input_size(self) -> tuple[int, ...] | None:
        """The shape of the first default input."""
        return self.inputs[0].shape if self.inputs else None


def _instantiate(obj: Any, where: str) -> nn.Module:
    """An ``nn.Module`` from an instance, a class or a function that returns one."""
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        try:
            built = obj()
        except TypeError as error:
            raise ModelLoadError(f"{where} cannot be called without arguments: {error}") from None
        except SystemExit as exiting:  # the user's code would end cnnstat silently with its own exit code
            raise ModelLoadError(f"building {where} failed: it called {exit_call(exiting)}") from None
        except Exception as error:  # a user's builder may fail in any way; say where
            raise ModelLoadError(f"building {where} failed: {type(error).__name__}: {error}") from None
        if isinstance(built, nn.Module):
            return built
        raise ModelLoadError(f"{where}() returned {type(built).__name__}, not a torch.nn.Module")
    raise ModelLoadError(f"{where} is a {type(obj).__name__}, not a module, class or builder")


def _import_attr(spec: str) -> Any:
    """Load ``package.module:attr`` or ``path/to/file.py:attr``; the user's own code runs, by design."""
    location, _, attr = spec.rpartition(":")
    if not location or not attr:
        raise ModelLoadError(f"cannot read {spec!r}: expected package.module:attr or path/file.py:attr")
    if location.endswith(".py"):
        path = Path(location)
        if not path.is_file():
            raise ModelLoadError(f"no such file: {location}")
        module_name = f"cnnstat_user_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ModelLoadError(f"{location} cannot be loaded as a Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except SystemExit as exiting:  # a script's `sys.exit()` at import would end cnnstat silently
            raise ModelLoadError(f"importing {location} failed: it called {exit_call(exiting)}") from None
        except Exception as error:  # a user's file may fail in any way; say where
            raise ModelLoadError(f"importing {location} failed: {type(error).__name__}: {error}") from None
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")  # let `pkg.mod:attr` find packages in the working folder
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise ModelLoadError(f"cannot import {location}: {error}") from None
        except SystemExit as exiting:  # importing runs the user's code, which may end the process
            raise ModelLoadError(f"importing {location} failed: it called {exit_call(exiting)}") from None
        except Exception as error:  # importing runs the user's code
            raise ModelLoadError(f"importing {location} failed: {type(error).__name__}: {error}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelLoadError(f"{location} has no attribute {attr!r}") from None


def declared_inputs(*holders: Any) -> tuple[InputSpec, ...] | None:
    """A user model's own ``input_size`` attribute, where it is a shape or a list of shapes.

    ``nn.LSTM(28, 64).input_size`` is 28, a feature count, not a shape: an int is not taken for one.
    """
    for holder in holders:
        size = getattr(holder, "input_size", None)
        if isinstance(size, Sequence) and not isinstance(size, str) and size:
            try:
                return tuple(specs_from_sizes(size))
            except CnnstatError:
                continue
    return None


def suggest(name: str) -> str:
    """A hint naming the closest known model names."""
    candidates = list(dict.fromkeys(known_names() + torchvision_model_names()))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else "; `cnnstat models` lists them"


def _build(name: str) -> ResolvedModel:
    entry = get_entry(name)
    if entry is not None:
        return ResolvedModel(entry.name, entry.builder(), entry.inputs, entry=entry, torchvision_name=entry.torchvision_name)
    if ":" in name:
        obj = _import_attr(name)
        module = _instantiate(obj, name)
        return ResolvedModel(name, module, declared_inputs(obj, module))
    if name in torchvision_model_names():
        try:
            model = build_torchvision_model(name)
        except Exception as error:  # a builder that cannot run here (a quantized model without its engine)
            raise ModelLoadError(f"torchvision cannot build {name} here: {type(error).__name__}: {error}") from None
        inputs = torchvision_default_inputs(name, model)
        if torchvision_families()[name] == "detection":
            counted = CountedDetector(model)
            return ResolvedModel(name, counted, inputs, torchvision_name=name, model=model, notes=(counted.describe(),))
        notes = ("counted as its float architecture: quantization changes the arithmetic's type, not its count",) if (
            torchvision_families()[name] == "quantization"
        ) else ()
        return ResolvedModel(name, model, inputs, torchvision_name=name, notes=notes)
    raise UnknownModelError(f"unknown model {name!r}{suggest(name)}")


def resolve_model(name: str, *, on_meta: bool = True) -> ResolvedModel:
    """Build the model ``name`` (zoo name, alias, torchvision name or import path) in eval mode.

    On meta (the default) no weight memory is used, however large the model; pass ``on_meta=False``
    for real weights.
    """
    if on_meta:
        resolved = _build_on_meta(name)
    else:
        resolved = _build(name)
    resolved.module.eval()
    if resolved.model is not None:
        resolved.model.eval()
    return resolved


def _build_on_meta(name: str) -> ResolvedModel:
    """Build with every tensor on meta; where the builder computes with tensors (RegNet), with only its parameters there."""
    import torch

    try:
        with torch.device("meta"):
            return _build(name)
    except Exception as error:  # a builder that needs real tensors fails in its own way
        if "meta" not in str(error):
            raise
    with parameters_on_meta():  # the parameters and buffers still go to meta as they are registered
        return _build(name)


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
