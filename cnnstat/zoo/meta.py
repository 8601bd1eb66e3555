"""Building models with parameters and buffers on the meta device, in one pass, for the calling thread only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_buffer_registration_hook, register_module_parameter_registration_hook
from torch.overrides import TorchFunctionMode

# Set only inside ``parameters_on_meta`` in the thread (or task) that entered it: torch's registration hooks are
# global, so each hook asks this first and leaves every other thread's modules as they are.
_building_on_meta: ContextVar[bool] = ContextVar("cnnstat_building_on_meta", default=False)


def _parameter_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> nn.Parameter | None:
    if not _building_on_meta.get() or param is None or param.device.type == "meta":
        return None  # torch keeps the parameter it was given
    return type(param)(param.to("meta"), requires_grad=param.requires_grad)


def _buffer_on_meta(module: nn.Module, name: str, tensor: torch.Tensor | None) -> torch.Tensor | None:
    if not _building_on_meta.get() or tensor is None or tensor.device.type == "meta":
        return None
    return tensor.to("meta")


class _EmptyOnMeta(TorchFunctionMode):
    """Tensors made without values (``torch.empty``, as every torch layer makes its weights) land on meta.

    They hold nothing a builder could read, so nothing it computes changes; a weight too large for
    memory is never allocated. A device the builder names is kept.
    """

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        if func in _EMPTY_FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


_EMPTY_FACTORIES = frozenset({torch.empty, torch.empty_strided, torch.empty_permuted})


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Move every parameter and buffer a module registers in this thread to ``meta``, as it is registered.

    Tensors made without values land on meta too; other tensors a builder makes stay on the CPU, so a
    builder that computes with tensor values while it builds (torchvision's RegNet) works in the same
    single pass; weight initialisation, which runs after registration, runs on meta and costs nothing. Through torch's public registration hooks,
    not by patching ``nn.Module``; they act only in the thread (or task) inside this block.
    """
    token = _building_on_meta.set(True)
    handles = [
        register_module_parameter_registration_hook(_parameter_on_meta),
        register_module_buffer_registration_hook(_buffer_on_meta),
    ]
    try:
        with _EmptyOnMeta():  # a mode is the calling thread's alone
            yield
    finally:
        for handle in handles:
            handle.remove()
        _building_on_meta.reset(token)
