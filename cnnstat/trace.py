"""Tracing: one frozen record per layer call, with every aten op it ran. Nothing is counted here.

Module hooks keep the stack of running modules. A TorchFunctionMode names the outermost torch
function each op runs under (``conv2d``, ``flatten``, ``__iadd__``): calls made outside a leaf
module become rows of their own. A TorchDispatchMode records every aten op that executes, which
is what torch's FlopCounterMode sees too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from .dynamo_unloaded import dynamo_left_unloaded
from .errors import TraceError
from .shapes import format_shape


@dataclass(frozen=True)
class TensorMeta:
    """Shape and dtype of a tensor an op read or wrote."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class OpRecord:
    """One executed aten op: its name, its arguments (tensors as TensorMeta), its outputs."""

    op: str
    overload: str
    args: tuple[Any, ...]
    outputs: tuple[TensorMeta, ...]
    call: str
    pointwise: bool
    is_view: bool


@dataclass(frozen=True)
class ParamRecord:
    """A parameter, counted once, in the first layer that owns it."""

    name: str
    numel: int
    trainable: bool
    nbytes: int


@dataclass(frozen=True)
class LayerRecord:
    """One call of a leaf module, or one functional call made outside leaf modules."""

    name: str
    type: str
    depth: int
    module_name: str
    is_module: bool
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    ops: tuple[OpRecord, ...]
    params: tuple[ParamRecord, ...]


@dataclass(frozen=True)
class Trace:
    """The records of one forward pass."""

    layers: tuple[LayerRecord, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None


def _meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorMeta(tuple(value.shape), str(value.dtype).removeprefix("torch."))
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
        return str(value)
    return value


def _is_pointwise(func: Any) -> bool:
    """Pointwise by tag; in-place variants (``hardswish_``) inherit the tag of their out-of-place op."""
    if torch.Tag.pointwise in func.tags:
        return True
    name = func._overloadpacket.__name__
    functional = getattr(torch.ops.aten, name[:-1], None) if name.endswith("_") else None
    return functional is not None and any(
        torch.Tag.pointwise in getattr(functional, overload).tags for overload in functional.overloads()
    )


def _first_shape(value: Any) -> tuple[int, ...] | None:
    leaves, _ = tree_flatten(value)
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            return tuple(leaf.shape)
    return None


def _param_records(module: nn.Module, prefix: str, recurse: bool, seen: set[int]) -> tuple[ParamRecord, ...]:
    records = []
    for name, param in module.named_parameters(prefix=prefix, recurse=recurse):
        if id(param) in seen:
            continue
        seen.add(id(param))
        records.append(ParamRecord(name, param.numel(), param.requires_grad, param.numel() * param.element_size()))
    return tuple(records)


@dataclass
class _OpenRow:
    name: str
    type: str
    depth: int
    module_name: str
    is_module: bool
    input_shape: tuple[int, ...] | None
    ops: list[OpRecord] = field(default_factory=list)
    params: tuple[ParamRecord, ...] = ()

    def close(self, output_shape: tuple[int, ...] | None) -> LayerRecord:
        return LayerRecord(
            self.name, self.type, self.depth, self.module_name, self.is_module,
            self.input_shape, output_shape, tuple(self.ops), self.params,
        )  # fmt: skip


class _Tracer(TorchDispatchMode):
    """Keeps the module stack and the open row; records ops into it."""

    def __init__(self, model: nn.Module, leaf_types: tuple[type, ...]):
        super().__init__()
        self.names = {module: name for name, module in model.named_modules()}
        self.leaves = {m for m in self.names if not any(True for _ in m.children()) or isinstance(m, leaf_types)}
        self.stack: list[nn.Module] = []
        self.row: _OpenRow | None = None
        self.call = ""
        self.rows: list[LayerRecord] = []
        self.seen_params: set[int] = set()
        self.owners_with_rows: set[str] = set()

    # -- module hooks -------------------------------------------------------------------------
    def in_leaf(self) -> bool:
        return any(m in self.leaves for m in self.stack)

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if module in self.leaves and not self.in_leaf():
            name = self.names[module]
            self.row = _OpenRow(
                name or type(module).__name__, type(module).__name__, name.count(".") + 1 if name else 0, name, True,
                _first_shape(args), params=_param_records(module, name, True, self.seen_params),
            )  # fmt: skip
        self.stack.append(module)

    def post_hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        self.stack.pop()
        if module in self.leaves and not self.in_leaf() and self.row is not None:
            self.rows.append(self.row.close(_first_shape(output)))
            self.row = None

    # -- functional calls ---------------------------------------------------------------------
    def open_call(self, func_name: str, args: tuple[Any, ...]) -> _OpenRow | None:
        """Open a row for a torch function called outside leaf modules; None inside one."""
        if self.in_leaf() or self.row is not None:
            return None
        owner = self.names[self.stack[-1]] if self.stack else ""
        params: tuple[ParamRecord, ...] = ()
        if owner not in self.owners_with_rows and self.stack:
            params = _param_records(self.stack[-1], owner, False, self.seen_params)
        name = f"{owner}.{func_name}" if owner else func_name
        depth = owner.count(".") + 2 if owner else 1
        self.row = _OpenRow(name, func_name, depth, owner, False, _first_shape(args), params=params)
        return self.row

    def close_call(self, row: _OpenRow, output: Any) -> None:
        self.row = None
        if row.ops or row.params:
            self.owners_with_rows.add(row.module_name)
            self.rows.append(row.close(_first_shape(output)))

    # -- aten ops -----------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        record = OpRecord(
            op=func._overloadpacket.__name__,
            overload=func._overloadname,
            args=tuple(tree_map(_meta, list(args))) + tuple(tree_map(_meta, (kwargs or {})).items()),
            outputs=tuple(_meta(t) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)),
            call=self.call,
            pointwise=_is_pointwise(func),
            is_view=func.is_view,
        )
        if self.row is not None:
            self.row.ops.append(record)
        else:  # an op no torch function announced; keep it rather than lose it
            row = self.open_call(record.op, args)
            if row is not None:
                row.ops.append(record)
                self.close_call(row, out)
        return out


class _CallNamer(TorchFunctionMode):
    """Names the torch function each op runs under, and opens rows for functional calls."""

    def __init__(self, tracer: _Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        func_name = getattr(func, "__name__", type(func).__name__)
        if func_name == "__get__":  # tensor property reads (x.shape) run no ops
            return func(*args, **(kwargs or {}))
        self.tracer.call = func_name
        row = self.tracer.open_call(func_name, args)
        try:
            out = func(*args, **(kwargs or {}))
        finally:
            self.tracer.call = ""
        if row is not None:
            self.tracer.close_call(row, out)
        return out


def _failure(tracer: _Tracer, error: Exception, input_shape: tuple[int, ...]) -> TraceError:
    """Name the layer a forward pass failed in, with the shape it got and torch's reason."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if tracer.row is not None and tracer.row.is_module:
        where = f"layer {tracer.row.name} ({tracer.row.type}) got input {format_shape(tracer.row.input_shape)}"
        expected = getattr(tracer.stack[-1], "in_channels", None) if tracer.stack else None
        shape = tracer.row.input_shape
        if isinstance(expected, int) and shape is not None and len(shape) > 1 and shape[1] != expected:
            reason = f"it takes {expected} input channel{'s' if expected != 1 else ''}, not {shape[1]}"
    elif tracer.row is not None:
        where = f"{tracer.row.type}() in {tracer.row.module_name or 'the model'}"
    elif tracer.stack:
        module = tracer.stack[-1]
        where = f"module {tracer.names[module] or '(model)'} ({type(module).__name__})"
    else:
        where = "the model"
    return TraceError(f"input {format_shape(input_shape)} does not fit: {where}: {reason}")


def trace(model: nn.Module, input_shape: tuple[int, ...], leaf_types: tuple[type, ...] = ()) -> Trace:
    """Run ``model`` once on a meta tensor of ``input_shape`` and record every layer call."""
    tracer = _Tracer(model, leaf_types)
    handles = []
    for module in tracer.names:
        handles.append(module.register_forward_pre_hook(tracer.pre_hook))
        handles.append(module.register_forward_hook(tracer.post_hook))
    device = next((p.device for p in model.parameters()), torch.device("meta"))
    x = torch.zeros(input_shape, device=device)
    try:
        with dynamo_left_unloaded(), torch.no_grad(), tracer, _CallNamer(tracer):
            output = model(x)
    except (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError, AssertionError) as error:
        raise _failure(tracer, error, input_shape) from error
    finally:
        for handle in handles:
            handle.remove()
    rows = list(tracer.rows)
    # Parameters no traced layer used (modules never called) still belong to the model.
    for module, name in tracer.names.items():
        unused = _param_records(module, name, False, tracer.seen_params)
        if unused:
            rows.append(LayerRecord(name, type(module).__name__, name.count(".") + 1, name, True, None, None, (), unused))
    return Trace(tuple(rows), tuple(input_shape), _first_shape(output))
