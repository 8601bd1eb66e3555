"""The ``cnnstat`` command's start-up shortcut: counting a classic in less time than importing the tools.

Only the command's own process takes it. :func:`cli_process` marks the process as the command's
(``cnnstat.cli.main`` enters it, once); a counting command then enters :func:`counting_shortcuts`
around its work. Nowhere else is anything here active: ``cnnstat.analyze``, ``get_model`` and
``list_models`` called from a user's program, or the command line run by a test in the test's own
process, import torch and torchvision as they always do. Inside the shortcut:

1. ``torch._dynamo`` stays unloaded. Many of torch's meta kernels (``addmm``, ``native_batch_norm``,
``mean``, ``normal_``) are Python functions wrapped in ``torch._disable_dynamo``. The wrapper imports
``torch._dynamo`` the first time it runs, only to switch the compiler off around the call, and that
import takes longer than counting a ResNet-50. While ``torch._dynamo`` has never been imported
nothing can be compiling, so the switch has nothing to do: each wrapper is told so through the cache
it keeps itself (the function is its own "dynamo-disabled" version), and on exit those entries are
removed. This reads two private names of torch (the wrapper's closure variable ``fn`` and its cache
attribute ``__dynamo_disable``); where torch has either no longer, nothing is seeded, or the seed is
never read, and the wrappers import ``torch._dynamo`` as usual: the same figures, only slower.

2. A zoo classic's torchvision builder is loaded on its own. ``import torchvision`` runs the
package's ``__init__``, which imports every subpackage, and ``torchvision.ops`` imports
``torch._dynamo``: together well over a second. The classic builders need none of it. A builder's
file runs under stand-ins for the two parent packages that skip their ``__init__``, and every
``torchvision`` module loaded on the way is taken back out of ``sys.modules``, so a later
``import torchvision`` is the ordinary one. Where that fails in any way, the ordinary import is used.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The attribute torch._compile._disable_dynamo caches the disabled function in, on the function it wraps.
_CACHE_ATTRIBUTE = "__dynamo_disable"

# Whether this process is the `cnnstat` command's own, and whether a counting command is running in it.
# Module state on purpose: the command owns its process and runs one command in it.
_command_process = False
_counting = False


@contextmanager
def cli_process() -> Iterator[None]:
    """Mark this process as the ``cnnstat`` command's own: only there may a counting command take the shortcut."""
    global _command_process
    _command_process = True
    try:
        yield
    finally:
        _command_process = False


@contextmanager
def counting_shortcuts() -> Iterator[None]:
    """Both tricks around a counting command's work, in the command's own process; elsewhere nothing at all."""
    global _counting
    if not _command_process or _counting:
        yield
        return
    seeded = _seed_dynamo_wrappers()
    _counting = True
    try:
        yield
    finally:
        _counting = False
        for function in seeded:
            if getattr(function, _CACHE_ATTRIBUTE, None) is function:
                delattr(function, _CACHE_ATTRIBUTE)


def _seed_dynamo_wrappers() -> list[Any]:
    """Tell each of torch's not-yet-used dynamo wrappers it may skip the dynamo import; the functions told.

    Nothing when ``torch._dynamo`` is loaded already (then something may compile) or torch's wrapper is laid
    out differently from what this reads.
    """
    if "torch._dynamo" in sys.modules:
        return []
    import torch

    from .counting import analyze  # noqa: F401  (torch wraps a dispatch mode's method as its class is made: make them first)

    try:
        wrapper = torch._disable_dynamo(_seed_dynamo_wrappers)  # one wrapper, to read the code every wrapper shares
        code = wrapper.__code__
        cell = code.co_freevars.index("fn")  # the wrapped function; __wrapped__ is sometimes reassigned
    except (AttributeError, TypeError, ValueError):  # torch without this wrapper, or with another one
        return []
    # type() rather than isinstance: some objects torch keeps warn when their __class__ is read
    wrapped = [obj.__closure__[cell].cell_contents for obj in gc.get_objects()
               if type(obj) is types.FunctionType and obj.__code__ is code]  # fmt: skip
    seeded = [function for function in wrapped if getattr(function, _CACHE_ATTRIBUTE, None) is None]
    for function in seeded:
        setattr(function, _CACHE_ATTRIBUTE, function)
    return seeded


def torchvision_builder(module: str, name: str) -> Callable[..., Any]:
    """The builder ``torchvision.models.<module>.<name>``: standalone inside :func:`counting_shortcuts`, where possible."""
    if _counting and "torchvision" not in sys.modules:
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
