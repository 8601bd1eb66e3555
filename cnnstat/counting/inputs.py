"""Inputs: ``--input`` strings and the Python API's sizes, dtypes and tensors, made into meta tensors.

A spec is a per-sample shape of any rank (``3x224x224``, ``2x16000``, ``3x16x112x112``, a bare
``128`` for token ids), an optional dtype (``128:int64``, ``3x224x224:bfloat16``) and, for a keyword
argument of ``forward``, a name (``flow=2x64x64``). The batch is added in front of every input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputShapeError
from .records import format_shape

EXPECTED_FORM = "SHAPE[:DTYPE] or NAME=SHAPE[:DTYPE], SHAPE as CxHxW, CxL, CxTxHxW or a length (e.g. 3x224x224, 128:int64)"
MAX_ELEMENTS = 2**40  # per sample: more is a typo, and the arithmetic of a trace that size is no use to anyone
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class InputSpec:
    """One input of ``forward``: its per-sample shape, its dtype (None: the model's own or float32), its keyword."""

    shape: tuple[int, ...]
    dtype: str | None = None
    name: str | None = None

    def describe(self) -> str:
        return f"{self.name + '=' if self.name else ''}{format_shape(self.shape)}{':' + self.dtype if self.dtype else ''}"


def resolve_dtype(name: str) -> Any:
    """The torch dtype called ``name`` (``float32``, ``bfloat16``, ``int64``, ``half`` …)."""
    import torch

    dtype = getattr(torch, name.strip().lower(), None) if name.strip() else None
    if not isinstance(dtype, torch.dtype):
        raise InputShapeError(f"unknown dtype {name!r}; use a torch dtype such as float32, bfloat16, float16 or int64")
    return dtype


def _checked(shape: tuple[int, ...], shown: str) -> tuple[int, ...]:
    if not shape or any(d < 1 for d in shape):
        raise InputShapeError(f"cannot read --input {shown!r}: every dimension must be at least 1; expected {EXPECTED_FORM}")
    if math.prod(shape) > MAX_ELEMENTS:
        raise InputShapeError(f"--input {shown!r} has {math.prod(shape):,} elements per sample, over the limit of {MAX_ELEMENTS:,}")
    return shape


def parse_input(text: str) -> InputSpec:
    """One ``--input`` value as a spec."""
    name, _, rest = text.rpartition("=") if "=" in text else ("", "", text)
    name = name.strip()
    if name and not _NAME.match(name):
        raise InputShapeError(f"cannot read --input {text!r}: {name!r} is not a keyword argument name")
    shape_text, colon, dtype_text = rest.partition(":")
    if colon and not dtype_text.strip():
        raise InputShapeError(f"cannot read --input {text!r}: a dtype follows the colon; expected {EXPECTED_FORM}")
    parts = shape_text.strip().lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = tuple(int(part) for part in parts)
    except ValueError:
        raise InputShapeError(f"cannot read --input {text!r}: expected {EXPECTED_FORM}") from None
    dtype = None
    if colon:
        resolve_dtype(dtype_text)
        dtype = dtype_text.strip().lower()
    return InputSpec(_checked(dims, text), dtype, name or None)


def specs_from_sizes(input_size: Any, dtypes: Any = None) -> list[InputSpec]:
    """The Python API's ``input_size`` (a shape, a list of shapes, or a dict of keyword shapes) and ``dtypes``.

    A shape may also be an ``--input`` string (``"3x224x224:bfloat16"``) or an :class:`InputSpec`.
    """
    if isinstance(input_size, Mapping):
        named = [(str(key), value) for key, value in input_size.items()]
    elif isinstance(input_size, (InputSpec, str)) or (
        isinstance(input_size, Sequence) and input_size and all(isinstance(d, int) for d in input_size)
    ):
        named = [(None, input_size)]
    elif isinstance(input_size, Sequence) and input_size:
        named = [(None, item) for item in input_size]
    else:
        raise InputShapeError(f"input_size must be a shape, a list of shapes or a dict of them, not {input_size!r}")
    dtype_list = _dtype_list(dtypes, len(named))
    specs = []
    for (name, shape), dtype in zip(named, dtype_list, strict=True):
        if isinstance(shape, InputSpec):
            specs.append(replace(shape, name=name or shape.name, dtype=dtype or shape.dtype))
            continue
        if isinstance(shape, str):
            specs.append(replace(parse_input(shape), name=name))
            continue
        if not isinstance(shape, Sequence) or not all(isinstance(d, int) for d in shape):
            raise InputShapeError(f"an input size must be a tuple of ints such as (3, 224, 224), not {shape!r}")
        specs.append(InputSpec(_checked(tuple(shape), str(shape)), dtype, name))
    return specs


def _dtype_list(dtypes: Any, count: int) -> list[str | None]:
    if dtypes is None:
        return [None] * count
    items = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes]
    if len(items) != count:
        raise InputShapeError(f"{len(items)} dtypes for {count} inputs")
    names = [str(d).removeprefix("torch.") if d is not None else None for d in items]
    for name in names:
        if name is not None:
            resolve_dtype(name)
    return names


def fit_to_defaults(specs: list[InputSpec], defaults: Sequence[InputSpec] | None) -> list[InputSpec]:
    """Fill what a spec leaves open from the model's own inputs.

    A shape one dimension short of the default is the default without its channels (``32x32`` for
    LeNet-5 is 1×32×32; ``fitting_notes`` says so); a spec without a dtype takes the default's.
    """
    if not defaults:
        return specs
    positional_defaults = [d for d in defaults if d.name is None]
    fitted = []
    for index, spec in enumerate(s for s in specs if s.name is None):
        default = positional_defaults[index] if index < len(positional_defaults) else None
        fitted.append(_fit(spec, default))
    named_defaults = {d.name: d for d in defaults if d.name is not None}
    fitted += [_fit(spec, named_defaults.get(spec.name)) for spec in specs if spec.name is not None]
    return fitted


def _fit(spec: InputSpec, default: InputSpec | None) -> InputSpec:
    if default is None:
        return spec
    shape = (default.shape[0], *spec.shape) if len(spec.shape) == len(default.shape) - 1 else spec.shape
    return InputSpec(shape, spec.dtype or default.dtype, spec.name)


def fitting_notes(given: Sequence[InputSpec], traced: Sequence[tuple[int, ...]]) -> list[str]:
    """How each given shape one dimension short was read (``28x28`` as 1×28×28), from the shapes traced (batch first)."""
    return [
        f"--input {format_shape(spec.shape).replace('×', 'x')} was read as {format_shape(shape[1:])}: one dimension short of "
        f"the model's own input, so its channels ({shape[1]}) were kept"
        for spec, shape in zip(given, traced, strict=False)  # keyword inputs come after the positional ones
        if len(shape) == len(spec.shape) + 2 and shape[2:] == spec.shape
    ]  # fmt: skip


def shape_hint(given: Sequence[InputSpec]) -> str:
    """A hint for a shape that failed and looks batch-included (``1x3x224x224``) or channels-last (``224x224x3``); or ""."""
    for spec in given:
        shape, text = spec.shape, format_shape(spec.shape).replace("×", "x")
        if len(shape) == 4 and shape[0] == 1:
            return f"; {text} looks batch-included: --input takes one sample's shape ({'x'.join(map(str, shape[1:]))}), --batch the batch"
        if len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] > 4:
            return f"; {text} looks channels-last: give channels first ({shape[-1]}x{shape[0]}x{shape[1]})"
    return ""


def meta_inputs(specs: Sequence[InputSpec], batch: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Zero tensors on meta, batch first: positional ones in order, keyword ones by name."""
    import torch

    if batch < 1:
        raise InputShapeError(f"--batch must be at least 1, got {batch}")

    def tensor(spec: InputSpec) -> torch.Tensor:
        dtype = resolve_dtype(spec.dtype) if spec.dtype else torch.float32
        return torch.zeros((batch, *spec.shape), dtype=dtype, device="meta")

    return tuple(tensor(s) for s in specs if s.name is None), {s.name: tensor(s) for s in specs if s.name is not None}


def meta_data(input_data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Ready inputs (a tensor, a sequence of them, or a dict of keyword tensors) as meta copies of the same shapes.

    Integer and boolean tensors (token ids, lengths, offsets, masks) are copied with their values, which a
    ``forward`` may index by or size by (``pack_padded_sequence``, ``x[mask]``); the trace moves them to meta
    where an op needs them there.
    """
    import torch
    from torch.utils._pytree import tree_map

    def to_meta(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        return value.to("meta") if value.is_floating_point() or value.is_complex() else value.clone()

    if isinstance(input_data, torch.Tensor):
        return (to_meta(input_data),), {}
    if isinstance(input_data, Mapping):
        return (), {str(key): tree_map(to_meta, value) for key, value in input_data.items()}
    if isinstance(input_data, Sequence):
        return tuple(tree_map(to_meta, value) for value in input_data), {}
    raise InputShapeError(f"input_data must be a tensor, a sequence of tensors or a dict of them, not {type(input_data).__name__}")


def suggested_input(module: Any) -> tuple[str, str]:
    """An ``--input`` that fits the first layer with weights, and what its dimensions are, for an error to show.

    The channels or features are the layer's own; lengths and sizes are examples.
    """
    from torch import nn

    convolutions = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    axes = {1: "channels × length", 2: "channels × height × width", 3: "channels × frames × height × width"}
    for layer in module.modules():
        if isinstance(layer, convolutions):
            dims = len(layer.kernel_size)
            return "x".join([str(layer.in_channels), *["32"] * dims]), axes[dims]
        if isinstance(layer, nn.RNNBase):
            if layer.batch_first:
                return f"16x{layer.input_size}", "steps × features"
            return f"1x{layer.input_size}", "batch × features, per step: --batch sets the steps"
        if isinstance(layer, nn.Linear):
            return str(layer.in_features), "features"
        if isinstance(layer, nn.Embedding):
            return "128:int64", "token ids"
    return "3x224x224", "channels × height × width"
