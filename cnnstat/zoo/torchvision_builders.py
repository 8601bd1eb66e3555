"""torchvision's model builders, loaded without the rest of torchvision when a build is only counted.

``import torchvision`` runs the package's ``__init__``, which imports every subpackage, and
``torchvision.ops`` imports ``torch._dynamo``: together well over a second, more than counting a
ResNet-50 takes. The classic builders need none of it; their files import only
``torchvision.transforms``, ``torchvision.utils`` and the private helpers of
``torchvision.models``. Inside :func:`standalone_torchvision_builders` (cnnstat's meta-device
builds) a builder's file runs under stand-ins for the two parent packages that skip their
``__init__``, and every ``torchvision`` module loaded on the way is taken back out of
``sys.modules``, so a later ``import torchvision`` anywhere in the process is the ordinary one.
The model keeps the classes it was built from; only ``isinstance`` against a torchvision
imported afterwards tells them apart, which is why real-weight builds never take this path.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_standalone_allowed: ContextVar[bool] = ContextVar("standalone_torchvision_builders", default=False)


@contextmanager
def standalone_torchvision_builders() -> Iterator[None]:
    """Let :func:`torchvision_builder` load a builder's file on its own while torchvision is not imported."""
    token = _standalone_allowed.set(True)
    try:
        yield
    finally:
        _standalone_allowed.reset(token)


def torchvision_builder(module: str, name: str) -> Callable[..., Any]:
    """The builder ``torchvision.models.<module>.<name>``, standalone where allowed and possible."""
    if _standalone_allowed.get() and "torchvision" not in sys.modules:
        builder = _load_standalone(module, name)
        if builder is not None:
            return builder
    return getattr(importlib.import_module(f"torchvision.models.{module}"), name)


def _is_torchvision(module_name: str) -> bool:
    return module_name == "torchvision" or module_name.startswith("torchvision.")


def _load_standalone(module: str, name: str) -> Callable[..., Any] | None:
    """Run one builder file under uninitialised parent packages; None if that fails in any way."""
    before = {key: value for key, value in sys.modules.items() if _is_torchvision(key)}
    try:
        for package in ("torchvision", "torchvision.models"):
            spec = importlib.util.find_spec(package)
            if spec is None:
                return None
            # module_from_spec gives the package its __path__ without running its __init__
            sys.modules[package] = importlib.util.module_from_spec(spec)
        return getattr(importlib.import_module(f"torchvision.models.{module}"), name)
    except Exception:  # a torchvision laid out differently: the ordinary import still works
        return None
    finally:
        for key in [key for key in sys.modules if _is_torchvision(key)]:
            del sys.modules[key]
        sys.modules.update(before)
