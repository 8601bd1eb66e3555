"""Fast start: the two import tricks that let cnnstat count a classic in less time than importing its tools.

:func:`fast_start` is entered once, around building and tracing a model that never leaves cnnstat
(``cnnstat.analyze`` of a name, ``cnnstat models``). Inside it:

1. ``torch._dynamo`` stays unloaded. Many of torch's meta kernels (``addmm``, ``native_batch_norm``, ``mean``, ``normal_``) are Python
functions wrapped in ``torch._disable_dynamo``. The wrapper imports ``torch._dynamo`` the first
time it runs, only to switch the compiler off around the call, and that import takes longer
than counting a ResNet-50. While ``torch._dynamo`` has never been imported nothing can be
compiling, so the switch has nothing to do. Inside :func:`dynamo_left_unloaded` each wrapper is
told so through the cache it keeps itself (the function is its own "dynamo-disabled" version);
on exit those entries are removed, so a compiler loaded later gets the ordinary wrappers back.
Where torch changes how the wrapper works, nothing is found and all that is lost is the speed.

2. A zoo classic's torchvision builder is loaded on its own. ``import torchvision`` runs the
package's ``__init__``, which imports every subpackage, and ``torchvision.ops`` imports
``torch._dynamo``: together well over a second. The classic builders need none of it; their files
import only ``torchvision.transforms``, ``torchvision.utils`` and the private helpers of
``torchvision.models``. A builder's file runs under stand-ins for the two parent packages that
skip their ``__init__``, and every ``torchvision`` module loaded on the way is taken back out of
``sys.modules``, so a later ``import torchvision`` is the ordinary one. Such a model is built from
classes a later torchvision import does not know, which is why the standalone path is taken only
inside the block: models that cnnstat hands out (``cnnstat.get_model``) are always built from
torchvision's own classes.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The attribute torch._compile._disable_dynamo caches the disabled function in, on the function it wraps.
_CACHE_ATTRIBUTE = "__dynamo_disable"

_active = False  # one block at a time: meta builds patch nn.Module globally, so they run single-threaded anyway


def _wrapper_code() -> types.CodeType | None:
    """The code object every ``torch._disable_dynamo`` wrapper shares, or None where torch has none."""
    import torch

    disable = getattr(torch, "_disable_dynamo", None)
    wrapper = disable(_wrapper_code) if disable is not None else None
    return getattr(wrapper, "__code__", None)


def _wrapped_functions(code: types.CodeType) -> list[Any]:
    """The functions behind every live wrapper with this code."""
    if "fn" not in code.co_freevars:
        return []
    cell = code.co_freevars.index("fn")  # the wrapped function; __wrapped__ is sometimes reassigned
    # type() rather than isinstance: some objects torch keeps warn when their __class__ is read
    return [
        obj.__closure__[cell].cell_contents
        for obj in gc.get_objects()
        if type(obj) is types.FunctionType and obj.__code__ is code
    ]


# Wrappers are made as modules are imported, so a scan of the heap stays valid while the number
# of loaded modules stays the same; a wrapper made without an import is missed, costing only speed.
_scan: tuple[int, list[Any]] = (-1, [])


def _unseeded_wrapped_functions(code: types.CodeType) -> list[Any]:
    """The functions behind every live wrapper that has not cached its disabled version yet."""
    global _scan
    if _scan[0] != len(sys.modules):
        _scan = (len(sys.modules), _wrapped_functions(code))
    return [function for function in _scan[1] if getattr(function, _CACHE_ATTRIBUTE, None) is None]


@contextmanager
def dynamo_left_unloaded() -> Iterator[None]:
    """Run torch's dynamo-wrapped meta kernels without importing ``torch._dynamo``, when nothing has yet.

    A no-op when ``torch._dynamo`` is already imported, and inside another such block.
    """
    global _active
    if _active or "torch._dynamo" in sys.modules:
        yield
        return
    code = _wrapper_code()
    seeded = _unseeded_wrapped_functions(code) if code is not None else []
    for function in seeded:
        setattr(function, _CACHE_ATTRIBUTE, function)
    _active = True
    try:
        yield
    finally:
        _active = False
        for function in seeded:
            if getattr(function, _CACHE_ATTRIBUTE, None) is function:
                delattr(function, _CACHE_ATTRIBUTE)


# ---------------------------------------------------------------------------------------------
# torchvision's builder files on their own
# ---------------------------------------------------------------------------------------------

_standalone_allowed: ContextVar[bool] = ContextVar("standalone_torchvision_builders", default=False)


def torchvision_builder(module: str, name: str) -> Callable[..., Any]:
    """The builder ``torchvision.models.<module>.<name>``: standalone inside :func:`fast_start`, where possible."""
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


@contextmanager
def fast_start() -> Iterator[None]:
    """Both tricks, for a model built and traced inside the block that never leaves cnnstat."""
    token = _standalone_allowed.set(True)
    try:
        with dynamo_left_unloaded():
            yield
    finally:
        _standalone_allowed.reset(token)
