"""Users' own modules, ``path/to/file.py:attr`` and ``package.module:attr``: their code runs, by design.

Loading leaves ``sys.path`` and ``sys.modules`` as they were, apart from the real modules the user's
code imports (as any import would); the builder is called once.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from ...counting.inputs import InputSpec, specs_from_sizes
from ...counting.trace import exit_call
from ...errors import CnnstatError, ModelLoadError
from .base import ModelSource, ResolvedModel, register_source


def split_spec(spec: str) -> tuple[str, str]:
    """``location`` and ``attr`` of ``location:attr``, or a one-line error saying what is expected."""
    location, _, attr = spec.rpartition(":")
    if not location or not attr:
        raise ModelLoadError(f"cannot read {spec!r}: expected package.module:attr or path/file.py:attr")
    return location, attr


@contextmanager
def user_code(location: str) -> Iterator[None]:
    """Run the user's code, turning whatever it raises, ``sys.exit()`` included, into one line that says where."""
    try:
        yield
    except CnnstatError:
        raise
    except SystemExit as exiting:  # a script's `sys.exit()` would end cnnstat silently with its own exit code
        raise ModelLoadError(f"importing {location} failed: it called {exit_call(exiting)}") from None
    except Exception as error:  # a user's code may fail in any way
        raise ModelLoadError(f"importing {location} failed: {type(error).__name__}: {error}") from None


def load_file(location: str) -> ModuleType:
    """Run a Python file as a module that is in ``sys.modules`` only while it runs."""
    path = Path(location)
    if not path.is_file():
        raise ModelLoadError(f"no such file: {location}")
    module_name = f"cnnstat_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{location} cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    before = sys.modules.get(module_name)
    sys.modules[module_name] = module  # while it runs: dataclasses and typing look their module up by name
    try:
        with user_code(location):
            spec.loader.exec_module(module)
    finally:
        if before is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = before
    return module


def import_location(location: str) -> ModuleType:
    """Import ``package.module``, finding packages in the working folder as ``python -m`` would, for this import only."""
    added = "" not in sys.path
    if added:
        sys.path.insert(0, "")
    try:
        with user_code(location):
            try:
                return importlib.import_module(location)
            except ImportError as error:
                raise ModelLoadError(f"cannot import {location}: {error}") from None
    finally:
        if added and "" in sys.path:
            sys.path.remove("")


def attribute(module: ModuleType, location: str, attr: str) -> Any:
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelLoadError(f"{location} has no attribute {attr!r}") from None


def instantiate(obj: Any, where: str) -> nn.Module:
    """An ``nn.Module`` from an instance, or from a class or function that returns one, called once."""
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ModelLoadError(f"{where} is a {type(obj).__name__}, not a module, class or builder")
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


class FileSource(ModelSource):
    """``path/to/file.py:attr``: a module, a class or a builder function in a Python file."""

    name = "file"

    def claims(self, name: str) -> bool:
        location, colon, _ = name.rpartition(":")
        return bool(colon) and location.endswith(".py")

    def resolve(self, name: str) -> ResolvedModel:
        location, attr = split_spec(name)
        obj = attribute(load_file(location), location, attr)
        module = instantiate(obj, name)
        return ResolvedModel(name, module, declared_inputs(obj, module), source=self.name)


class ImportPathSource(ModelSource):
    """``package.module:attr``: a module, a class or a builder function that Python can import."""

    name = "import path"

    def claims(self, name: str) -> bool:
        return ":" in name

    def resolve(self, name: str) -> ResolvedModel:
        location, attr = split_spec(name)
        obj = attribute(import_location(location), location, attr)
        module = instantiate(obj, name)
        return ResolvedModel(name, module, declared_inputs(obj, module), source=self.name)


register_source(FileSource())
register_source(ImportPathSource())
