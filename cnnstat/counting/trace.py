"""Tracing: one frozen record per layer call, with every aten op it ran. Nothing is counted here.

Module hooks keep the stack of running modules. A TorchFunctionMode names the outermost torch
function each op runs under (``conv2d``, ``flatten``, ``__iadd__``): calls made outside a leaf
module become rows of their own. A TorchDispatchMode records every aten op that executes, which
is what torch's FlopCounterMode sees too, with its arguments keyed by the op's schema. With
autograd on, a saved-tensors hook records what each layer keeps for the backward pass.

A module whose parameters and buffers are not on the meta device runs through
``torch.func.functional_call`` (under a plain parent, which even a scripted module may have) on
meta stand-ins for them, so its own tensors are never touched and no activation memory is spent;
its train/eval flags are restored afterwards, and the hooks removed. One with lazy parameters,
which its first call shapes (changing the module), runs as a meta copy whose shaping is not
recorded; parameters are read as each row opens. Meta stands for the CPU: the tensors a forward
makes land there too (``meta.py``). A module torch lets no one hook (a scripted one) is no row of
its own: its ops go to rows of the module that calls it. A forward whose shapes or path depend on
tensor values, or that runs an op meta cannot, is refused with that reason.
"""

from __future__ import annotations

import inspect
import itertools
import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_flatten_with_path
from torch.utils.weak import WeakIdKeyDictionary

from ..errors import TraceError
from . import torch_layers  # noqa: F401  (registers the counters of torch's composite layers)
from .layers import class_names, layer_counter_for, settings_of
from .meta import all_on_meta, call_on_standins, has_lazy_tensors, land_on_meta, meta_standins, meta_twin, mixes_devices
from .records import LayerRecord, OpRecord, ParamRecord, SavedTensor, TensorMeta, Trace, format_shape


def output_path(path: tuple[Any, ...]) -> str:
    """A pytree key path as users write it: ``out``, ``aux``, ``[1]``, ``flow.[0]``; empty for the root."""
    parts = []
    for key in path:
        if hasattr(key, "key"):  # a dict key
            parts.append(str(key.key))
        elif hasattr(key, "idx"):  # a sequence index
            parts.append(f"[{key.idx}]")
        else:  # a named-tuple or dataclass field
            parts.append(str(getattr(key, "name", key)))
    return ".".join(parts)


def _is_pointwise(func: Any) -> bool:
    """Pointwise by tag; in-place variants (``hardswish_``) inherit the tag of their out-of-place op."""
    if torch.Tag.pointwise in func.tags:
        return True
    name = func._overloadpacket.__name__
    functional = getattr(torch.ops.aten, name[:-1], None) if name.endswith("_") else None
    return functional is not None and any(
        torch.Tag.pointwise in getattr(functional, overload).tags for overload in functional.overloads()
    )


def _bind(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
    """(name, value) for every argument of the op's schema: positional, keyword, then defaults."""
    bound = []
    positional = iter(args)
    for argument in func._schema.arguments:
        if not argument.kwarg_only:
            value = next(positional, _MISSING)
            if value is not _MISSING:
                bound.append((argument.name, value))
                continue
        if argument.name in kwargs:
            bound.append((argument.name, kwargs[argument.name]))
        elif argument.has_default_value():
            bound.append((argument.name, argument.default_value))
    return bound


_MISSING = object()
# Tensor methods that hand a tensor's values to Python: on meta there are none to hand.
_VALUE_READS = frozenset({"item", "tolist", "numpy", "__array__", "__bool__", "__int__", "__float__", "__index__", "__complex__"})


class _NotOnMeta(Exception):
    """A forward a meta trace cannot follow, whatever its input: it needs tensor values, or an op meta cannot run.

    Its text reads after the model's name, with ``{where}`` for the layer it happened in.
    """


def _needs_values(what: str) -> _NotOnMeta:
    return _NotOnMeta(f"cannot be counted from shapes alone: its forward {what}{{where}}, "
                      "and cnnstat runs it on meta tensors, which have shapes but no values")  # fmt: skip


def _run_op(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], call: str) -> Any:
    """Run an aten op; one that mixes meta tensors with CPU ones (made from data in ``forward``) runs all on meta."""
    try:
        return func(*args, **kwargs)
    except Exception as error:
        if mixes_devices((args, kwargs)):
            return _run_op(func, *all_on_meta((args, kwargs)), call)
        op = f"{func.namespace}.{func._overloadpacket.__name__}" if isinstance(func, torch._ops.OpOverload) else str(func)
        under = f"{call}(), " if call else ""
        tags = getattr(func, "tags", ())
        if torch.Tag.data_dependent_output in tags:
            raise _needs_values(f"reads a tensor's values ({under}{op})") from error
        if torch.Tag.dynamic_output_shape in tags:
            raise _needs_values(f"makes a tensor whose shape depends on tensor values ({under}{op})") from error
        if isinstance(error, NotImplementedError):  # torch's word for an op without a kernel for these tensors
            raise _NotOnMeta(f"cannot be counted: its forward runs {op}{{where}}, which torch cannot run on meta tensors, "
                             "where cnnstat runs every model") from error  # fmt: skip
        raise


@dataclass
class _OpenRow:
    name: str
    type: str
    depth: int
    module_name: str
    is_module: bool
    inputs: tuple[TensorMeta, ...]
    ops: list[OpRecord] = field(default_factory=list)
    params: tuple[ParamRecord, ...] = ()
    saved: list[SavedTensor] = field(default_factory=list)
    classes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    def close(self, outputs: tuple[tuple[str, TensorMeta], ...]) -> LayerRecord:
        return LayerRecord(
            self.name, self.type, self.depth, self.module_name, self.is_module,
            self.inputs, outputs, tuple(self.ops), self.params, tuple(self.saved), self.classes, self.settings,
        )  # fmt: skip


class _Tracer(TorchDispatchMode):
    """Keeps the module stack, the open row and the data-flow values; records ops into the row."""

    def __init__(self, model: nn.Module, state: Iterable[torch.Tensor]):
        super().__init__()
        self.names = {module: name for name, module in model.named_modules()}
        self.leaves = {m for m in self.names if not any(True for _ in m.children()) or layer_counter_for(class_names(type(m)))}
        self.params = _parameters_by_owner(model)
        self.state_storages: set[int] = set()
        self.add_state(state)
        self.values: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.next_value = itertools.count()
        self.stack: list[nn.Module] = []
        self.row: _OpenRow | None = None
        self.call = ""
        self.shaping = False  # while a lazy module's own hook shapes its parameters
        self.rows: list[LayerRecord] = []
        self.seen_params: set[int] = set()
        self.owners_with_rows: set[str] = set()

    # -- tensors ------------------------------------------------------------------------------
    def meta(self, tensor: torch.Tensor) -> TensorMeta:
        return TensorMeta(
            tuple(tensor.shape), str(tensor.dtype).removeprefix("torch."), tensor.element_size(),
            tensor.requires_grad, self.values.get(tensor),
        )  # fmt: skip

    def new_value(self, tensor: torch.Tensor) -> None:
        self.values[tensor] = next(self.next_value)

    def tensors(self, value: Any) -> tuple[TensorMeta, ...]:
        return tuple(self.meta(leaf) for leaf in tree_flatten(value)[0] if isinstance(leaf, torch.Tensor))

    def outputs(self, value: Any) -> tuple[tuple[str, TensorMeta], ...]:
        leaves, _ = tree_flatten_with_path(value)
        return tuple((output_path(path), self.meta(leaf)) for path, leaf in leaves if isinstance(leaf, torch.Tensor))

    def plain(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return self.meta(value)
        if isinstance(value, (list, tuple)):
            return tuple(self.plain(item) for item in value)
        if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
            return str(value)
        return value

    def add_state(self, tensors: Iterable[torch.Tensor]) -> None:
        """Note the storages of the model's own tensors, which autograd may save but which are not activations."""
        self.state_storages.update(t.untyped_storage()._cdata for t in tensors if not is_lazy(t))

    def take_params(self, module: nn.Module, recurse: bool) -> tuple[ParamRecord, ...]:
        """Parameters of ``module`` (and, with ``recurse``, of its submodules) not yet counted in an earlier row.

        Read as the row opens, after any hook of the module's own has shaped its lazy parameters.
        """
        taken = []
        for owner in module.modules() if recurse else (module,):
            for name, param in self.params.get(owner, ()):
                if id(param) not in self.seen_params:
                    self.seen_params.add(id(param))
                    taken.append(_param_record(name, param))
        return tuple(taken)

    # -- module hooks -------------------------------------------------------------------------
    def in_leaf(self) -> bool:
        return any(m in self.leaves for m in self.stack)

    def pause(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Before a lazy module's own hook: shaping and initialising its parameters is first-call work, not the model's."""
        self.shaping = True

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.shaping = False
        self.add_state(_own_tensors(module))  # lazy ones are shaped by now
        if module in self.leaves and not self.in_leaf():
            name = self.names[module]
            self.row = _OpenRow(
                name or type(module).__name__, type(module).__name__, name.count(".") + 1 if name else 0, name, True,
                self.tensors((args, kwargs)), params=self.take_params(module, recurse=True),
                classes=class_names(type(module)), settings=settings_of(module),
            )  # fmt: skip
        self.stack.append(module)

    def post_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        self.stack.pop()
        if module in self.leaves and not self.in_leaf() and self.row is not None:
            self.rows.append(self.row.close(self.outputs(output)))
            self.row = None

    # -- functional calls ---------------------------------------------------------------------
    def open_call(self, func_name: str, args: Any) -> _OpenRow | None:
        """Open a row for a torch function called outside leaf modules; None inside one."""
        if self.shaping or self.in_leaf() or self.row is not None:
            return None
        owner = self.names[self.stack[-1]] if self.stack else ""
        params: tuple[ParamRecord, ...] = ()
        if owner not in self.owners_with_rows and self.stack:
            params = self.take_params(self.stack[-1], recurse=False)
        name = f"{owner}.{func_name}" if owner else func_name
        depth = owner.count(".") + 2 if owner else 1
        self.row = _OpenRow(name, func_name, depth, owner, False, self.tensors(args), params=params)
        return self.row

    def close_call(self, row: _OpenRow, output: Any) -> None:
        self.row = None
        if row.ops or row.params:
            self.owners_with_rows.add(row.module_name)
            self.rows.append(row.close(self.outputs(output)))

    # -- autograd -----------------------------------------------------------------------------
    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        """saved_tensors_hooks pack: note the storage a layer keeps for backward; keep the tensor itself."""
        try:
            storage = tensor.untyped_storage()
        except (RuntimeError, NotImplementedError):  # tensors without a storage (sparse, nested) cost nothing here
            return tensor
        saved = SavedTensor(storage._cdata, storage.nbytes(), storage._cdata in self.state_storages)
        if self.row is not None:
            self.row.saved.append(saved)
        elif self.rows:  # saved after its row closed (an op no torch function announced)
            self.rows[-1] = replace(self.rows[-1], saved=(*self.rows[-1].saved, saved))
        return tensor

    # -- aten ops -----------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if self.shaping:
            return _run_op(func, args, kwargs, self.call)
        if torch.is_inference_mode_enabled():
            # Inference mode skips autograd's layer, where composite ops (linear, matmul) split into the ops the specs
            # know: split them here, as torch's FlopCounterMode does.
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        arguments = {name: self.plain(value) for name, value in _bind(func, args, kwargs)}  # before in-place ops run
        out = _run_op(func, args, kwargs, self.call)
        output_tensors = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        for tensor in output_tensors:
            self.new_value(tensor)  # an in-place op gives its tensor a new value
        record = OpRecord(
            op=func._overloadpacket.__name__,
            arguments=arguments,
            outputs=tuple(self.meta(t) for t in output_tensors),
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
        kwargs = kwargs or {}
        if func_name == "__get__":  # tensor property reads (x.shape) run no ops
            return func(*args, **kwargs)
        landed = land_on_meta(func, args, kwargs)
        run: Callable[..., Any] = func
        if landed is not None:
            run, args, kwargs = landed
        self.tracer.call = func_name
        row = self.tracer.open_call(func_name, args)
        try:
            out = run(*args, **kwargs)
        except Exception as error:
            if func_name in _VALUE_READS and args and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta":
                raise _needs_values(f"reads a tensor's values ({func_name}())") from error
            raise
        finally:
            self.tracer.call = ""
        if row is not None:
            self.tracer.close_call(row, out)
        return out


def _parameters_by_owner(model: nn.Module) -> dict[nn.Module, list[tuple[str, nn.Parameter]]]:
    """Per module, its own parameters by full name; taken before any stand-in replaces them, read when counted."""
    return {
        module: list(module.named_parameters(prefix=prefix, recurse=False, remove_duplicate=False))
        for prefix, module in model.named_modules()
    }


def _param_record(name: str, param: nn.Parameter) -> ParamRecord:
    if is_lazy(param):  # its module was never called: nothing ever gave it a shape
        raise TraceError(f"parameter {name} has no size: it is lazy, and the forward pass never calls its module to shape it")
    return ParamRecord(name, param.numel(), param.requires_grad, param.numel() * param.element_size(), tuple(param.shape))


def _failure(tracer: _Tracer, error: BaseException, inputs: str, model_type: str) -> TraceError:
    """Name the layer a forward pass failed in, with the shape it got and torch's (or the model's own) reason."""
    if isinstance(error, SystemExit):  # the model's own code asked the process to end: cnnstat ends it with a reason
        return TraceError(f"the forward pass of {model_type} on input {inputs} called {exit_call(error)}{_in(tracer)}")
    if isinstance(error, RecursionError):  # a RuntimeError, but no input shape would fit a forward that never returns
        return TraceError(f"the forward pass of {model_type} on input {inputs} recursed too deep{_in(tracer)} "
                          "(Python's recursion limit): does its forward call itself without end?")  # fmt: skip
    if isinstance(error, _NotOnMeta):  # not the input's fault: no input shape would do
        return TraceError(f"{model_type} {str(error).format(where=_in(tracer) + _at(error))}")
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    shape_error = isinstance(error, (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError, AssertionError))
    row = tracer.row
    got = ""
    if row is not None and row.is_module:
        where = f"layer {row.name} ({row.type})"
        shape = row.inputs[0].shape if row.inputs else None
        got = f" got input {format_shape(shape)}"
        expected = getattr(tracer.stack[-1], "in_channels", None) if tracer.stack else None
        if isinstance(expected, int) and shape is not None and len(shape) > 1 and shape[1] != expected:
            reason = f"it takes {expected} input channel{'s' if expected != 1 else ''}, not {shape[1]}"
    elif row is not None:
        where = f"{row.type}() in {row.module_name or 'the model'}"
    elif tracer.stack:
        module = tracer.stack[-1]
        where = f"module {tracer.names[module] or '(model)'} ({type(module).__name__})"
    else:
        where = "the model"
    if not shape_error:  # the model's own exception: its type says as much as its text
        return TraceError(f"the forward pass on input {inputs} raised {type(error).__name__} in {where}: {reason}")
    where += got
    return TraceError(f"input {inputs} does not fit: {where}: {reason}")


def _in(tracer: _Tracer) -> str:
    """`` in layer fc (Linear)`` where the failure was inside a submodule, else nothing (the model is already named)."""
    row = tracer.row
    if row is not None and row.is_module and row.module_name:
        return f" in layer {row.name} ({row.type})"
    module = tracer.stack[-1] if tracer.stack else None
    if module is not None and tracer.names.get(module):
        return f" in module {tracer.names[module]} ({type(module).__name__})"
    return ""


def _at(error: BaseException) -> str:
    """`` at nets.py:14``: the last line of the model's own code (not torch's, not cnnstat's) the failure passed through."""
    libraries = tuple(str(folder) + os.sep for folder in (Path(torch.__file__).parent, Path(__file__).parent.parent))
    own = [frame for frame in traceback.extract_tb(error.__traceback__) if not frame.filename.startswith(libraries)]
    return f" at {Path(own[-1].filename).name}:{own[-1].lineno}" if own else ""


def exit_call(exiting: SystemExit) -> str:
    """The ``sys.exit`` call user code made, as written: ``sys.exit(5)``, ``sys.exit('bye')``, ``sys.exit()``."""
    return f"sys.exit({'' if exiting.code is None else repr(exiting.code)})"


def _named_inputs(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """Every input tensor with the name of the ``forward`` parameter it is passed as (``x``, ``y``, ``x.[0]``)."""
    try:
        names = [p.name for p in inspect.signature(model.forward).parameters.values() if p.kind in _POSITIONAL]
    except (TypeError, ValueError):  # a forward without a signature Python can read
        names = []
    named = []
    for index, value in itertools.chain(enumerate(args), kwargs.items()):
        base = names[index] if isinstance(index, int) and index < len(names) else str(index) if isinstance(index, str) else f"[{index}]"
        for path, leaf in tree_flatten_with_path(value)[0]:
            if isinstance(leaf, torch.Tensor):
                named.append((".".join(filter(None, (base, output_path(path)))), leaf))
    return named


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@contextmanager
def _mode(model: nn.Module, train: bool) -> Iterator[None]:
    """Every submodule in eval (or train) mode for the block; each module's own flag restored after."""
    flags = [(module, module.training) for module in model.modules()]
    model.train(train)
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def _own_tensors(module: nn.Module) -> Iterator[torch.Tensor]:
    return itertools.chain(module.parameters(recurse=False), module.buffers(recurse=False))


def _hooks(module: nn.Module, tracer: _Tracer) -> list[Any]:
    """The tracer's hooks on ``module``; none where torch refuses hooks (a scripted module)."""
    handles = []
    try:
        if any(is_lazy(tensor) for tensor in _own_tensors(module)):
            handles.append(module.register_forward_pre_hook(tracer.pause, with_kwargs=True, prepend=True))
        handles.append(module.register_forward_pre_hook(tracer.pre_hook, with_kwargs=True))
        handles.append(module.register_forward_hook(tracer.post_hook, with_kwargs=True))
    except RuntimeError:  # its ops are then recorded in the rows of the module that calls it
        for handle in handles:
            handle.remove()
        return []
    return handles


def _run(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], autograd: bool) -> Trace:
    if has_lazy_tensors(model):  # its first call shapes its lazy tensors and changes its classes: let it change a copy
        model = meta_twin(model)
    standins = meta_standins(model)
    state = standins.values() if standins is not None else itertools.chain(model.parameters(), model.buffers())
    tracer = _Tracer(model, state)
    handles = [handle for module in tracer.names for handle in _hooks(module, tracer)]
    for tensor in tree_flatten((args, kwargs))[0]:
        if isinstance(tensor, torch.Tensor):
            tracer.new_value(tensor)
    inputs = tuple((name, tracer.meta(tensor)) for name, tensor in _named_inputs(model, args, kwargs))
    grad_mode = torch.enable_grad() if autograd else torch.no_grad()
    saving = torch.autograd.graph.saved_tensors_hooks(tracer.pack, lambda tensor: tensor)
    try:
        with grad_mode, saving, tracer, _CallNamer(tracer):
            if standins is None:
                output = model(*args, **kwargs)
            else:
                output = call_on_standins(model, standins, args, kwargs)
    except TraceError:
        raise
    except (Exception, SystemExit) as error:  # a user's forward may fail in any way (even sys.exit): say where and why
        shapes = ", ".join(format_shape(meta.shape) for _, meta in inputs) or "(none)"
        raise _failure(tracer, error, shapes, type(model).__name__) from error
    finally:
        for handle in handles:
            handle.remove()
    rows = list(tracer.rows)
    # Parameters no traced layer used (modules never called) still belong to the model.
    for module, name in tracer.names.items():
        unused = tracer.take_params(module, recurse=False)
        if unused:
            rows.append(LayerRecord(name, type(module).__name__, name.count(".") + 1, name, True, (), (), (), unused))
    types = {name: type(module).__name__ for module, name in tracer.names.items()}
    return Trace(tuple(rows), inputs, tracer.outputs(output), with_autograd=autograd, module_types=types)


def trace(model: nn.Module, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, *, train: bool = False) -> Trace:
    """Run ``model`` once on meta ``args``/``kwargs`` and record every layer call.

    The model runs in eval mode unless ``train`` is set, with autograd on so that backward
    figures can be counted. A model that cannot run under autograd (an in-place op on a leaf,
    say) is traced again without it, and the trace says why its backward figures are missing.
    """
    with _mode(model, train):
        try:
            return _run(model, args, kwargs or {}, autograd=True)
        except TraceError as with_autograd:
            if isinstance(with_autograd.__cause__, (SystemExit, RecursionError, _NotOnMeta)):  # not autograd's doing: don't run it twice
                raise
            without = _run(model, args, kwargs or {}, autograd=False)  # raises the forward's own failure
            reason = str(with_autograd.__cause__ or with_autograd).strip().splitlines()[0]
            return replace(without, note=f"autograd could not run it: {reason}")
