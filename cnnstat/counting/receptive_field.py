"""Receptive fields: how far into the input one unit of each layer's output sees.

The footprint of a unit is followed through the data flow of the trace, op by op. Along each
spatial axis of the input it is an interval of input pixels ``[lo, hi]`` for unit 0 of the tensor
dimension that indexes that axis, and a *jump* (the effective stride) between neighbouring units.
A window op (convolution, pooling) widens it by ``(k − 1)·d·jump`` and multiplies the jump by its
stride; where branches meet (a residual addition, an Inception concatenation) the footprints are
united, so a layer's figure is the largest over the paths that reach it. An op that mixes a whole
axis (a fully connected layer after flattening, global pooling, attention) leaves every unit seeing
the whole span its input saw: the axis is then no longer indexed by any tensor dimension.

Receptive fields are exact for chains and branches of convolutions and pools; for resampling and
transposed convolutions they are the footprint of the widest unit. Ops this module has no rule for
are treated as mixing everything they read, which can only over-state a footprint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

from .ops import UNTAGGED_ELEMENTWISE, pool_geometry, spatial
from .records import OpRecord, TensorMeta, Trace


@dataclass(frozen=True)
class Footprint:
    """What unit 0 of a tensor sees along one input axis, and how far apart neighbouring units look."""

    dim: int | None  # the tensor dimension that indexes positions along the axis; None: all units see [lo, hi]
    lo: Fraction
    hi: Fraction
    jump: Fraction

    @property
    def size(self) -> int:
        return math.ceil(self.hi - self.lo + 1)

    def whole(self, shape: tuple[int, ...]) -> Footprint:
        """The span every unit together sees: the axis is no longer indexed by a tensor dimension."""
        if self.dim is None:
            return self
        return Footprint(None, self.lo, self.hi + (shape[self.dim] - 1) * self.jump, self.jump)


State = tuple[Footprint, ...]  # one footprint per spatial axis of the input
Lookup = Callable[[TensorMeta], "State | None"]
Rule = Callable[[OpRecord, Lookup], "State | None"]


# ---------------------------------------------------------------------------------------------
# Combining footprints
# ---------------------------------------------------------------------------------------------


def _unite(first: Footprint, second: Footprint, shape: tuple[int, ...]) -> Footprint:
    """The footprint of a unit that reads both: the union of the two intervals."""
    lo, hi = min(first.lo, second.lo), max(first.hi, second.hi)
    if first.dim == second.dim:
        return Footprint(first.dim, lo, hi, max(first.jump, second.jump))
    if first.dim is not None and second.dim is not None:  # indexed by different dimensions: every unit sees both spans
        return _unite(first.whole(shape), second.whole(shape), shape)
    indexed, constant = (first, second) if first.dim is not None else (second, first)
    spread = indexed.whole(shape)
    if constant.lo <= spread.lo and constant.hi >= spread.hi:  # e.g. a squeeze-excitation scale: sees it all
        return constant
    return Footprint(indexed.dim, lo, hi, indexed.jump)


def _merge(states: list[tuple[State, tuple[int, ...]]]) -> State | None:
    """Unite the states of several tensors already aligned to one output shape."""
    if not states:
        return None
    merged, shape = states[0]
    for state, _ in states[1:]:
        merged = tuple(_unite(a, b, shape) for a, b in zip(merged, state, strict=True))
    return merged


def _broadcast(state: State, source: TensorMeta, target: tuple[int, ...]) -> State:
    """Re-index a state onto a broadcast output: dimensions align from the right; size-1 dims stop indexing."""
    offset = len(target) - len(source.shape)
    aligned = []
    for footprint in state:
        if footprint.dim is None:
            aligned.append(footprint)
        elif source.shape[footprint.dim] == 1 and target[footprint.dim + offset] != 1:
            aligned.append(replace(footprint, dim=None))
        else:
            aligned.append(replace(footprint, dim=footprint.dim + offset))
    return tuple(aligned)


def _collapse(state: State, shape: tuple[int, ...], dims: set[int] | None = None) -> State:
    """Every axis indexed by one of ``dims`` (all, if None) becomes seen whole by every unit."""
    return tuple(f.whole(shape) if f.dim is not None and (dims is None or f.dim in dims) else f for f in state)


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        for name in names:
            RULES[name] = function
        return function

    return register


def mixing(op: OpRecord, lookup: Lookup) -> State | None:
    """Every output unit may read every input unit: each footprint becomes its whole span."""
    states = [(_collapse(state, tensor.shape), tensor.shape) for tensor in op.input_tensors() if (state := lookup(tensor))]
    return _merge(states)


def elementwise(op: OpRecord, lookup: Lookup) -> State | None:
    """Output unit i reads unit i of every (broadcast) input."""
    target = op.outputs[0].shape
    states = [
        (_broadcast(state, tensor, target), target) for tensor in op.input_tensors() if (state := lookup(tensor)) is not None
    ]
    return _merge(states)


def _window(state: State, rank: int, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
            dilation: tuple[int, ...]) -> State:  # fmt: skip
    """Unit o of the output reads input units o·s − p … o·s − p + (k − 1)·d along each windowed dimension."""
    first = rank - len(kernel)
    windowed = []
    for footprint in state:
        axis = footprint.dim - first if footprint.dim is not None else -1
        if 0 <= axis < len(kernel):
            j = footprint.jump
            windowed.append(Footprint(
                footprint.dim, footprint.lo - padding[axis] * j,
                footprint.hi + ((kernel[axis] - 1) * dilation[axis] - padding[axis]) * j, j * stride[axis],
            ))  # fmt: skip
        else:
            windowed.append(footprint)
    return tuple(windowed)


@rule("convolution", "_convolution")
def convolution(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("input")
    state = lookup(x)
    if state is None:
        return None
    dims = len(x.shape) - 2
    kernel = op.tensor("weight").shape[2:]
    stride, padding, dilation = (spatial(op[name], dims) for name in ("stride", "padding", "dilation"))
    if op["transposed"]:
        return _transposed(state, len(x.shape), kernel, stride, padding, dilation)
    return _window(state, len(x.shape), kernel, stride, padding, dilation)


def _transposed(state: State, rank: int, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                dilation: tuple[int, ...]) -> State:  # fmt: skip
    """Output o receives input i where o = i·s − p + t·d: the widest set of inputs any output unit receives."""
    first = rank - len(kernel)
    result = []
    for footprint in state:
        axis = footprint.dim - first if footprint.dim is not None else -1
        if not 0 <= axis < len(kernel):
            result.append(footprint)
            continue
        s, p, d, k, j = stride[axis], padding[axis], dilation[axis], kernel[axis], footprint.jump
        widest: tuple[int, int, int] | None = None
        for residue in range(s):  # output units o ≡ residue (mod s) receive the same taps
            sources = [(residue + p - t * d) // s for t in range(k) if (residue + p - t * d) % s == 0]
            if sources and (widest is None or max(sources) - min(sources) > widest[1] - widest[0]):
                widest = (min(sources), max(sources), residue)
        if widest is None:
            result.append(footprint)
            continue
        low, high, residue = widest
        shift = Fraction(residue, s) * j  # place the widest unit's footprint at unit 0
        result.append(Footprint(footprint.dim, footprint.lo + low * j - shift, footprint.hi + high * j - shift, j / s))
    return tuple(result)


@rule("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices",
      "avg_pool1d", "avg_pool2d", "avg_pool3d")  # fmt: skip
def pooling(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    return None if state is None else _window(state, len(x.shape), *pool_geometry(op))


def _windows_of(in_size: int, out_size: int) -> int:
    """The longest window adaptive pooling uses between these sizes."""
    return max(-((-(o + 1) * in_size) // out_size) - (o * in_size) // out_size for o in range(out_size))


@rule("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_pooling(op: OpRecord, lookup: Lookup) -> State | None:
    x, out = op.tensor("self"), op.outputs[0]
    state = lookup(x)
    if state is None:
        return None
    dims = len(spatial(op["output_size"], 1))
    first = len(x.shape) - dims
    result = []
    for footprint in state:
        if footprint.dim is not None and footprint.dim >= first:
            n, m = x.shape[footprint.dim], out.shape[footprint.dim]
            j = footprint.jump
            result.append(Footprint(footprint.dim, footprint.lo, footprint.hi + (_windows_of(n, m) - 1) * j, j * Fraction(n, m)))
        else:
            result.append(footprint)
    return tuple(result)


@rule("mean", "sum", "amax", "amin", "var", "std", "var_mean", "std_mean", "logsumexp", "norm", "linalg_vector_norm",
      "prod", "max", "min", "argmax", "argmin", "any", "all")  # fmt: skip
def reduction(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    dims = op.get("dim")
    dims = dims if isinstance(dims, tuple) else () if dims is None else (dims,)
    if not dims or not all(isinstance(d, int) for d in dims):  # every dimension reduced
        return _collapse(state, x.shape)
    reduced = {d % len(x.shape) for d in dims}
    collapsed = _collapse(state, x.shape, reduced)
    if op.get("keepdim", False):
        return collapsed
    return tuple(
        replace(f, dim=f.dim - sum(1 for r in reduced if r < f.dim)) if f.dim is not None else f for f in collapsed
    )


_RESAMPLE_TAPS = {"nearest": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


@rule("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
      "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
      "upsample_trilinear3d", "upsample_bicubic2d", "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa")  # fmt: skip
def resampling(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.input_tensors()[0]
    out = op.outputs[0]
    state = lookup(x)
    if state is None:
        return None
    mode = op.op.removeprefix("_").removeprefix("upsample_").removesuffix("_aa").rstrip("123d").removesuffix("_exact")
    taps = _RESAMPLE_TAPS.get(mode, 2)
    result = []
    for footprint in state:
        if footprint.dim is not None and footprint.dim >= 2:
            scale = Fraction(x.shape[footprint.dim], out.shape[footprint.dim])
            spread = math.ceil(max(scale, 1)) + taps - 1  # input units the widest output unit reads
            j = footprint.jump
            result.append(Footprint(footprint.dim, footprint.lo, footprint.hi + (spread - 1) * j, j * scale))
        else:
            result.append(footprint)
    return tuple(result)


@rule("constant_pad_nd")
def padding(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    pads = list(op["pad"])  # (last-dim before, last-dim after, second-last before, …)
    shifted = []
    for footprint in state:
        index = 2 * (len(x.shape) - 1 - footprint.dim) if footprint.dim is not None else len(pads)
        before = pads[index] if index < len(pads) else 0
        shifted.append(replace(footprint, lo=footprint.lo - before * footprint.jump, hi=footprint.hi - before * footprint.jump))
    return tuple(shifted)


@rule("cat", "stack")
def concatenation(op: OpRecord, lookup: Lookup) -> State | None:
    tensors = [t for t in op["tensors"] if isinstance(t, TensorMeta)]
    out = op.outputs[0]
    dim = op.get("dim", 0) % len(out.shape)
    states = []
    for tensor in tensors:
        state = lookup(tensor)
        if state is None:
            continue
        if op.op == "stack":  # a new dimension at ``dim``
            state = tuple(replace(f, dim=f.dim + 1) if f.dim is not None and f.dim >= dim else f for f in state)
        else:  # pieces joined along an indexed dimension no longer share a position grid
            state = _collapse(state, tensor.shape, {dim})
        states.append((state, out.shape))
    return _merge(states)


def _reshaped(state: State, source: tuple[int, ...], target: tuple[int, ...]) -> State:
    """Follow a view or reshape: an indexed dimension survives if it keeps its size and neighbours' products."""
    mapping: dict[int, int] = {}
    i = j = 0
    while i < len(source) and j < len(target):
        start_i, start_j = i, j
        left, right = source[i], target[j]
        i, j = i + 1, j + 1
        while left != right:
            if left < right:
                left *= source[i]
                i += 1
            else:
                right *= target[j]
                j += 1
        real_source = [d for d in range(start_i, i) if source[d] != 1]
        real_target = [d for d in range(start_j, j) if target[d] != 1]
        if len(real_source) == 1 and len(real_target) == 1:
            mapping[real_source[0]] = real_target[0]
    result = []
    for footprint in state:
        if footprint.dim is None:
            result.append(footprint)
        elif footprint.dim in mapping:
            result.append(replace(footprint, dim=mapping[footprint.dim]))
        elif source[footprint.dim] == 1:
            result.append(replace(footprint, dim=None))
        else:
            result.append(footprint.whole(source))
    return tuple(result)


@rule("view", "_unsafe_view", "reshape", "_reshape_alias", "unsqueeze", "squeeze", "flatten", "unflatten", "alias",
      "clone", "contiguous", "_to_copy", "detach", "lift_fresh", "native_dropout", "dropout")  # fmt: skip
def reshaping(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.input_tensors()[0]
    state = lookup(x)
    if state is None:
        return None
    out = op.outputs[0].shape
    if x.shape == out:
        return state
    return _reshaped(state, x.shape, out) if math.prod(x.shape) == math.prod(out) else _collapse(state, x.shape)


@rule("expand", "expand_copy")
def expanding(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    return None if state is None else _broadcast(state, x, op.outputs[0].shape)


@rule("permute", "transpose", "t", "swapaxes")
def permuting(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.input_tensors()[0]
    state = lookup(x)
    if state is None:
        return None
    rank = len(x.shape)
    if op.op == "permute":
        order = [d % rank for d in op["dims"]]
    else:
        first, second = (op.get("dim0", 0) % rank, op.get("dim1", 1) % rank) if rank > 1 else (0, 0)
        order = list(range(rank))
        order[first], order[second] = order[second], order[first]
    return tuple(replace(f, dim=order.index(f.dim)) if f.dim is not None else f for f in state)


@rule("slice", "select", "narrow")
def slicing(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    dim = op.get("dim", 0) % len(x.shape)
    result = []
    for footprint in state:
        if footprint.dim != dim:
            shift = 1 if op.op == "select" and footprint.dim is not None and footprint.dim > dim else 0
            result.append(replace(footprint, dim=footprint.dim - shift) if shift else footprint)
            continue
        start = op.get("start") or op.get("index") or 0
        start = start % x.shape[dim] if start < 0 else min(start, x.shape[dim])  # slice clamps; select counts from the end
        step = op.get("step", 1) or 1
        j = footprint.jump
        moved = replace(footprint, lo=footprint.lo + start * j, hi=footprint.hi + start * j, jump=j * step)
        result.append(replace(moved, dim=None) if op.op == "select" else moved)
    return tuple(result)


@rule("split", "split_with_sizes", "unbind", "chunk", "unsafe_split", "unsafe_chunk", "split_with_sizes_copy")
def splitting(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    dim = op.get("dim", 0) % len(x.shape)
    return _collapse(state, x.shape, {dim}) if op.op != "unbind" else tuple(
        replace(f, dim=None) if f.dim == dim else replace(f, dim=f.dim - 1) if f.dim is not None and f.dim > dim else f
        for f in state
    )


def _matrix(op: OpRecord, lookup: Lookup, left: str, right: str, bias: str | None) -> State | None:
    """A matrix product: rows follow the left operand, columns the right; the inner dimension is mixed."""
    out = op.outputs[0]
    a, b = op.tensor(left), op.tensor(right)
    states = []
    for tensor, contracted in ((a, len(a.shape) - 1), (b, len(b.shape) - 2)):
        state = lookup(tensor)
        if state is not None:
            states.append((_broadcast(_collapse(state, tensor.shape, {contracted}), tensor, out.shape), out.shape))
    if bias is not None and (state := lookup(op.tensor(bias))) is not None:
        states.append((_broadcast(state, op.tensor(bias), out.shape), out.shape))
    return _merge(states)


@rule("mm", "bmm")
def matrix_product(op: OpRecord, lookup: Lookup) -> State | None:
    return _matrix(op, lookup, "self", "mat2", None)


@rule("addmm")
def matrix_product_with_bias(op: OpRecord, lookup: Lookup) -> State | None:
    return _matrix(op, lookup, "mat1", "mat2", "self")


@rule("baddbmm")
def batched_product_with_bias(op: OpRecord, lookup: Lookup) -> State | None:
    return _matrix(op, lookup, "batch1", "batch2", "self")


@rule("_softmax", "_log_softmax", "_safe_softmax", "softmax", "log_softmax")
def softmax(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("self")
    state = lookup(x)
    return None if state is None else _collapse(state, x.shape, {op["dim"] % len(x.shape)})


@rule("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training")
def batch_norm(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("input")
    state = lookup(x)
    if state is None:
        return None
    # In training the statistics come from every position of the batch.
    return _collapse(state, x.shape) if op.get("training", False) else state


@rule("native_layer_norm")
def layer_norm(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("input")
    state = lookup(x)
    if state is None:
        return None
    normalised = set(range(len(x.shape) - len(op["normalized_shape"]), len(x.shape)))
    return _collapse(state, x.shape, normalised)


@rule("native_group_norm")
def group_norm(op: OpRecord, lookup: Lookup) -> State | None:
    x = op.tensor("input")
    state = lookup(x)
    return None if state is None else _collapse(state, x.shape, set(range(1, len(x.shape))))  # stats over C/G × space


@rule("copy_")
def copy(op: OpRecord, lookup: Lookup) -> State | None:
    src, out = op.tensor("src"), op.outputs[0]
    state = lookup(src)
    return None if state is None else _broadcast(state, src, out.shape)


def _rule_for(op: OpRecord) -> Rule:
    found = RULES.get(op.op)
    if found is not None:
        return found
    if op.pointwise or op.op in UNTAGGED_ELEMENTWISE:
        return elementwise
    return mixing


# ---------------------------------------------------------------------------------------------
# Following the trace
# ---------------------------------------------------------------------------------------------


def spatial_inputs(trace: Trace) -> list[TensorMeta]:
    """The inputs whose pixels footprints are measured in: floating inputs with the first one's spatial shape."""
    floating = [meta for _, meta in trace.inputs if len(meta.shape) >= 3 and "float" in meta.dtype]
    if not floating:
        return []
    reference = floating[0].shape[2:]
    return [meta for meta in floating if meta.shape[2:] == reference and len(meta.shape) == len(floating[0].shape)]


def footprints(trace: Trace) -> dict[int, State]:
    """The footprint state of every tensor value that depends on the input's pixels."""
    states: dict[int, State] = {}
    for meta in spatial_inputs(trace):
        if meta.value is not None:
            states[meta.value] = tuple(Footprint(d, Fraction(0), Fraction(0), Fraction(1)) for d in range(2, len(meta.shape)))

    def lookup(tensor: TensorMeta) -> State | None:
        return states.get(tensor.value) if tensor.value is not None else None

    for layer in trace.layers:
        for op in layer.ops:
            if not any(lookup(t) is not None for t in op.input_tensors()):
                continue
            state = _rule_for(op)(op, lookup)
            if state is None:
                continue
            for output in op.outputs:
                if output.value is not None and all(f.dim is None or f.dim < len(output.shape) for f in state):
                    states[output.value] = state
    return states


def describe(state: State | None) -> tuple[tuple[int, ...] | None, tuple[float | None, ...] | None]:
    """(receptive field in input pixels per axis, effective stride per axis or None where every unit sees it all)."""
    if state is None:
        return None, None
    strides = tuple((int(f.jump) if f.jump.denominator == 1 else float(f.jump)) if f.dim is not None else None for f in state)
    return tuple(f.size for f in state), strides
