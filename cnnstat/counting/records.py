"""What a trace records: frozen, plain records of tensors, ops, parameters and layer calls.

Nothing here counts. A tensor becomes a :class:`TensorMeta` (shape, dtype, whether autograd
tracks it, and a *value* number that follows the data flow from op to op); an aten op becomes an
:class:`OpRecord` whose arguments are keyed by the names in the op's schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(1, 3, 224, 224)`` -> ``1×3×224×224``; an em dash for no shape."""
    return "—" if shape is None else "×".join(str(d) for d in shape)


@dataclass(frozen=True)
class TensorMeta:
    """A tensor an op read or wrote: shape, dtype, bytes per element, autograd state, data-flow value."""

    shape: tuple[int, ...]
    dtype: str
    itemsize: int = 4
    requires_grad: bool = False
    value: int | None = None  # the same number wherever the same tensor value is read again

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass(frozen=True)
class OpRecord:
    """One executed aten op, its arguments normalised by the op's schema, and its outputs."""

    op: str  # the overload packet's name: "convolution", "addmm", "relu_"
    arguments: dict[str, Any] = field(hash=False)  # tensors as TensorMeta, tensor lists as tuples of them
    outputs: tuple[TensorMeta, ...]
    call: str  # the outermost torch function it ran under: "conv2d", "adaptive_avg_pool2d", "" for none
    pointwise: bool
    is_view: bool

    def __getitem__(self, name: str) -> Any:
        return self.arguments[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.arguments.get(name, default)

    def tensor(self, name: str) -> TensorMeta:
        """The tensor argument ``name``."""
        value = self.arguments[name]
        if not isinstance(value, TensorMeta):
            raise TypeError(f"{self.op} argument {name!r} is not a tensor")
        return value

    def optional_tensor(self, name: str) -> TensorMeta | None:
        """The tensor argument ``name``, or None where it was not given."""
        value = self.arguments.get(name)
        return value if isinstance(value, TensorMeta) else None

    def input_tensors(self) -> list[TensorMeta]:
        """Every tensor the op read, in schema order, tensor lists flattened."""
        found: list[TensorMeta] = []
        for value in self.arguments.values():
            if isinstance(value, TensorMeta):
                found.append(value)
            elif isinstance(value, tuple):
                found.extend(item for item in value if isinstance(item, TensorMeta))
        return found


@dataclass(frozen=True)
class ParamRecord:
    """A parameter, counted once, in the first layer that uses it."""

    name: str
    numel: int
    trainable: bool
    nbytes: int
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class SavedTensor:
    """A tensor autograd saved for the backward pass while a layer ran."""

    storage: int  # identity of the storage it views: views of one storage are saved once
    nbytes: int  # bytes of that storage
    model_state: bool  # a parameter or buffer of the model, which exists whether or not it trains


@dataclass(frozen=True)
class LayerRecord:
    """One call of a leaf module, or one torch function called outside leaf modules."""

    name: str
    type: str
    depth: int
    module_name: str
    is_module: bool
    inputs: tuple[TensorMeta, ...]
    outputs: tuple[tuple[str, TensorMeta], ...]  # (path in the returned structure, tensor)
    ops: tuple[OpRecord, ...]
    params: tuple[ParamRecord, ...]
    saved: tuple[SavedTensor, ...] = ()
    classes: tuple[str, ...] = ()  # of a module's call: its class and base classes by qualified name, most derived first
    settings: dict[str, Any] = field(default_factory=dict, hash=False)  # of a module's call: its plain hyperparameters

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return self.inputs[0].shape if self.inputs else None

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.outputs[0][1].shape if self.outputs else None


@dataclass(frozen=True)
class Trace:
    """The records of one forward pass, with the model's inputs and outputs by path."""

    layers: tuple[LayerRecord, ...]
    inputs: tuple[tuple[str, TensorMeta], ...]
    outputs: tuple[tuple[str, TensorMeta], ...]
    with_autograd: bool  # False where the model could only be traced without autograd: no backward figures
    note: str = ""  # why, when with_autograd is False
    module_types: dict[str, str] = field(default_factory=dict, hash=False)  # every module's class name by its path

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inputs[0][1].shape if self.inputs else ()

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.outputs[0][1].shape if self.outputs else None
