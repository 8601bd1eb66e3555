"""Running a user's module on meta: stand-ins for its tensors, a twin for lazy modules, and where its CPU calls land.

During a trace the meta device stands for the CPU the model would run on. A ``forward`` that makes
a tensor without a device (``torch.zeros(b, 10)``) or moves one to the CPU (``x.cpu()``) gets a meta
tensor, as it would get a CPU tensor beside CPU inputs. Tensors made from data (``torch.tensor([...])``,
``torch.from_numpy``) stay on the CPU with their values, which shapes and indices may depend on,
and join meta operands only where an op needs them on one device. All of this lives in the trace's
own modes: it is thread-local and ends with the trace.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from torch.utils._pytree import tree_flatten, tree_map

from ..errors import TraceError

META = torch.device("meta")

# Factories that make a tensor from its size alone: without a device (or on the CPU) they make one on meta during a
# trace. Those that take data (torch.tensor, as_tensor, asarray, scalar_tensor) keep it on the CPU instead.
_SIZE_FACTORIES = frozenset({
    torch.empty, torch.empty_strided, torch.empty_permuted, torch.zeros, torch.ones, torch.full, torch.arange,
    torch.linspace, torch.logspace, torch.eye, torch.rand, torch.randn, torch.randint, torch.randperm,
    torch.tril_indices, torch.triu_indices, torch.hann_window, torch.hamming_window, torch.bartlett_window,
    torch.blackman_window, torch.kaiser_window, torch.fft.fftfreq, torch.fft.rfftfreq,
})  # fmt: skip


def _is_cpu(device: Any) -> bool:
    return isinstance(device, (str, torch.device)) and torch.device(device).type == "cpu"


def _is_meta(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "meta"


def land_on_meta(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """The ``(func, args, kwargs)`` to run instead of a torch call that would put a tensor on the CPU; None to run it as is.

    A factory called without a device or a generator lands on meta; ``cpu()``, ``to()`` or ``type()`` towards the CPU
    of a meta tensor keeps it there (on the CPU, each would at most change its dtype).
    """
    if func in _SIZE_FACTORIES:
        if (kwargs.get("device") is None or _is_cpu(kwargs["device"])) and kwargs.get("generator") is None:
            return func, args, {**kwargs, "device": META}
        return None
    if not args or not _is_meta(args[0]):
        return None
    if func is torch.Tensor.cpu:
        return _same, args[:1], {}
    if func is torch.Tensor.type and len(args) > 1:  # to a legacy CPU type: torch.FloatTensor or "torch.FloatTensor"
        target = getattr(torch, args[1].removeprefix("torch."), None) if isinstance(args[1], str) else args[1]
        if isinstance(getattr(target, "dtype", None), torch.dtype) and getattr(target, "is_cuda", None) is False:
            return torch.Tensor.to, (args[0], target.dtype), {}
        return None
    if func is torch.Tensor.to:
        moved = [META if _is_cpu(a) else a for a in args[1:]]
        if moved and isinstance(moved[0], torch.Tensor):  # to(other): other's dtype, the trace's device
            moved[0:1] = [META, moved[0].dtype]
        device = kwargs.get("device")
        return func, (args[0], *moved), {**kwargs, "device": META} if _is_cpu(device) else kwargs
    return None


def _same(tensor: torch.Tensor) -> torch.Tensor:
    """``cpu()`` of a tensor already where the trace's CPU is: the tensor itself, as torch returns it."""
    return tensor


def mixes_devices(value: Any) -> bool:
    """Whether ``value`` (an op's arguments) holds tensors on meta and tensors elsewhere."""
    devices = {leaf.device.type == "meta" for leaf in _tensors(value)}
    return devices == {True, False}


def all_on_meta(value: Any) -> Any:
    """``value`` with every tensor not on meta replaced by a meta tensor of the same shape and dtype."""
    return tree_map(lambda leaf: leaf.to(META) if isinstance(leaf, torch.Tensor) and not _is_meta(leaf) else leaf, value)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    return (leaf for leaf in tree_flatten(value)[0] if isinstance(leaf, torch.Tensor))


def _plain_tensor_attributes(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Tensors kept as plain attributes (``self.mask = torch.ones(4)``), neither parameters nor buffers."""
    for prefix, module in model.named_modules(remove_duplicate=False):
        for attribute, value in vars(module).items():
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                yield f"{prefix}.{attribute}" if prefix else attribute, value


def _model_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    return itertools.chain(model.named_parameters(remove_duplicate=False), model.named_buffers(remove_duplicate=False),
                           _plain_tensor_attributes(model))  # fmt: skip


def _empty_meta(tensor: torch.Tensor) -> torch.Tensor:
    """An empty meta tensor like ``tensor``, tracked by autograd where ``tensor`` is."""
    standin = torch.empty_like(tensor, device=META)
    return standin.requires_grad_(tensor.requires_grad) if tensor.is_floating_point() else standin


def meta_standins(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """Meta tensors standing in for every parameter, buffer and plain tensor attribute (tied ones tied), or None if
    all are on meta already."""
    tensors = list(_model_tensors(model))
    if all(tensor.device.type == "meta" for _, tensor in tensors):
        return None
    standins: dict[int, torch.Tensor] = {}
    for _, tensor in tensors:
        standins.setdefault(id(tensor), _empty_meta(tensor))
    return {name: standins[id(tensor)] for name, tensor in tensors}


def has_lazy_tensors(model: nn.Module) -> bool:
    """Whether some parameter or buffer is only shaped (and the module changed) by the first call (``nn.LazyLinear``)."""
    return any(is_lazy(tensor) for _, tensor in _model_tensors(model))


def meta_twin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose every tensor is a meta stand-in (tied ones tied), for a first call to change freely.

    A lazy parameter or buffer gets a lazy one on meta, which the copy's first call shapes as it would the original's.
    """
    memo: dict[int, Any] = {}
    for _, tensor in _model_tensors(model):
        if id(tensor) in memo:
            continue
        if isinstance(tensor, (UninitializedParameter, UninitializedBuffer)):
            memo[id(tensor)] = type(tensor)(tensor.requires_grad, device=META, dtype=tensor.dtype)
        elif isinstance(tensor, nn.Parameter):
            memo[id(tensor)] = nn.Parameter(_empty_meta(tensor), requires_grad=tensor.requires_grad)
        else:
            memo[id(tensor)] = _empty_meta(tensor)
    try:
        return copy.deepcopy(model, memo)
    except Exception as error:  # an attribute Python cannot copy (a lock, an open file)
        raise TraceError(f"{type(model).__name__} has lazy parameters, which its first call shapes by changing the module; "
                         f"cnnstat shapes them on a copy, and it cannot be copied: {error}") from error  # fmt: skip


class _Caller(nn.Module):
    """A plain Python parent for the model: ``functional_call`` refuses a scripted root, not a scripted child."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)


def call_on_standins(model: nn.Module, standins: dict[str, torch.Tensor], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``model(*args, **kwargs)`` with its tensors swapped for ``standins`` for the call only."""
    return torch.func.functional_call(_Caller(model), {f"model.{name}": t for name, t in standins.items()}, args, kwargs, strict=False)
