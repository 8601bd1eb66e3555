"""Receptive fields: how far into the input one unit of each layer's output sees.

The footprint of a unit is followed through the data flow of the trace, op by op. Along each
spatial axis of the input it is an interval of input pixels ``[lo, hi]`` for unit 0 of the tensor
dimension that indexes that axis, and a *jump* (the effective stride) between neighbouring units.
A window op (convolution, pooling) widens it by ``(k − 1)·d·jump`` and multiplies the jump by its
stride; where branches meet (a residual addition) the footprints are united. An op that mixes a
whole axis (a fully connected layer after flattening, global pooling, attention) leaves every unit
seeing the whole span its input saw: the axis is then no longer indexed by any tensor dimension.

Each op's rule comes from its spec (``specs.py``). No rule guesses: where a footprint cannot be
followed exactly (an op without a rule, pieces of unevenly spaced footprints stacked into a
sequence, a gather), the value is :class:`Unknown`, with the reason, and so is everything computed
from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

from .ops import adaptive_windows, pool_geometry, spatial
from .records import OpRecord, TensorMeta, Trace


@dataclass(frozen=True)
class Footprint:
    """What unit 0 of a tensor sees along one input axis, and how far apart neighbouring units look."""

    dim: int | None  # the tensor dimension that indexes positions along the axis; None: all units see [lo, hi]
    lo: Fraction
    hi: Fraction
    jump: Fraction
    # Where the units along ``dim`` are off one grid (a flatten merged it with other dimensions, upsampling
    # repeats units, a strided transposed convolution gives them different taps), [lo, hi] is the widest
    # unit's footprint and ``span`` the whole span, (lo, hi), that all of them together see.
    span: tuple[Fraction, Fraction] | None = None
    # Attention scores: unit (l, s) sees query position l and key position s, one indexed by ``dim``,
    # the other by ``pair.dim``. Only rules that mix one of the two dimensions whole make it one footprint.
    pair: Footprint | None = None

    @property
    def size(self) -> int:
        return math.ceil(self.hi - self.lo + 1)

    def whole(self, shape: tuple[int, ...]) -> Footprint:
        """The span every unit together sees: the axis is no longer indexed by a tensor dimension."""
        if self.pair is not None:
            raise Unfollowable("mixes units that see two positions at once")
        if self.dim is None:
            return self
        if self.span is not None:
            return Footprint(None, *self.span, self.jump)
        return Footprint(None, self.lo, self.hi + (shape[self.dim] - 1) * self.jump, self.jump)

    def off_grid(self, lo: Fraction, hi: Fraction, shape: tuple[int, ...]) -> Footprint:
        """Units along the same dimension, off one grid, the widest seeing ``[lo, hi]``; together what these units saw."""
        whole = self.whole(shape)
        return replace(self, lo=lo, hi=hi, span=(whole.lo, whole.hi))


def _off_grid_along(state: State, dims: set[int]) -> bool:
    """Whether one of ``dims`` indexes units off one grid, along which no window or slice can be followed."""
    return any(f.span is not None and f.dim in dims for f in state)


def _off_grid(op: OpRecord) -> Unknown:
    return Unknown(f"aten::{op.op} works along units off one grid (after a flatten, upsampling or a strided transposed "
                   "convolution)")  # fmt: skip


class Unfollowable(Exception):
    """Raised where a rule meets a footprint it cannot follow exactly: the walker makes the value unknown."""


@dataclass(frozen=True)
class Unknown:
    """A footprint no rule can follow exactly, and why: everything computed from it is unknown too."""

    reason: str


State = tuple[Footprint, ...]  # one footprint per spatial axis of the input
Outcome = State | Unknown | None  # None: the value depends on no pixel of the input
Lookup = Callable[[TensorMeta], "State | None"]
Rule = Callable[[OpRecord, Lookup], "Outcome | list[Outcome]"]  # a list: one outcome per output


# ---------------------------------------------------------------------------------------------
# Combining footprints
# ---------------------------------------------------------------------------------------------


def _unite(first: Footprint, second: Footprint, shape: tuple[int, ...]) -> Footprint | None:
    """The footprint of a unit that reads both; None where the units of the result would see unevenly placed spans."""
    lo, hi = min(first.lo, second.lo), max(first.hi, second.hi)
    if first.pair is not None or second.pair is not None:
        return first if first == second else None
    if first.dim == second.dim:
        if first.span is not None or second.span is not None:  # off grid: only the same footprint unites
            return first if first == second else None
        if first.dim is not None and first.jump != second.jump:  # two grids: unit i's span grows with i
            return None
        return Footprint(first.dim, lo, hi, max(first.jump, second.jump))
    if first.dim is not None and second.dim is not None:  # unit (i, j) sees position i of one and j of the other
        return replace(first, pair=second)
    indexed, constant = (first, second) if first.dim is not None else (second, first)
    spread = indexed.whole(shape)
    if constant.lo <= spread.lo and constant.hi >= spread.hi:  # e.g. a squeeze-excitation scale: sees it all
        return constant
    return None  # units near the constant span see less than those far from it


def _merge(op: OpRecord, states: list[tuple[State, tuple[int, ...]]]) -> Outcome:
    """Unite the states of several tensors already aligned to one output shape."""
    if not states:
        return None
    merged, shape = states[0]
    for state, _ in states[1:]:
        united = [_unite(a, b, shape) for a, b in zip(merged, state, strict=True)]
        if any(footprint is None for footprint in united):
            return Unknown(f"aten::{op.op} combines inputs whose units see differently placed spans")
        merged = tuple(f for f in united if f is not None)
    return merged


def _redim(footprint: Footprint, move: Callable[[int], int | None]) -> Footprint:
    """The footprint with its indexing dimensions renumbered by ``move`` (None: it no longer indexes)."""
    if footprint.dim is None:
        return footprint
    pair = _redim(footprint.pair, move) if footprint.pair is not None else None
    dim = move(footprint.dim)
    if pair is not None and (dim is None or pair.dim is None):
        raise Unfollowable("leaves one of two positions a unit sees on a dimension of size 1")
    return replace(footprint, dim=dim, pair=pair)


def _broadcast(state: State, source: TensorMeta, target: tuple[int, ...]) -> State:
    """Re-index a state onto a broadcast output: dimensions align from the right; size-1 dims stop indexing."""
    offset = len(target) - len(source.shape)

    def move(dim: int) -> int | None:
        return None if source.shape[dim] == 1 and target[dim + offset] != 1 else dim + offset

    return tuple(_redim(footprint, move) for footprint in state)


def _collapse(state: State, shape: tuple[int, ...], dims: set[int] | None = None) -> State:
    """Every axis indexed by one of ``dims`` (all, if None) becomes seen whole by every unit."""

    def mixed(footprint: Footprint) -> bool:
        return footprint.dim is not None and (dims is None or footprint.dim in dims)

    collapsed = []
    for footprint in state:
        if footprint.pair is None:
            collapsed.append(footprint.whole(shape) if mixed(footprint) else footprint)
            continue
        first, second = replace(footprint, pair=None), footprint.pair
        if not (mixed(first) or mixed(second)):
            collapsed.append(footprint)
            continue
        # attention: mixing all keys leaves each query unit seeing its own position and every key's
        united = _unite(*(part.whole(shape) if mixed(part) else part for part in (first, second)), shape)
        if united is None:
            raise Unfollowable("mixes all of one position a unit sees, which leaves the other's span uneven")
        collapsed.append(united)
    return tuple(collapsed)


def _follows_pairs(rule: Rule) -> Rule:
    """Mark a rule whose every step follows units that see two positions at once (attention scores)."""
    rule.follows_pairs = True  # type: ignore[attr-defined]
    return rule


def _paired(state: State) -> bool:
    return any(footprint.pair is not None for footprint in state)


def _indexes(state: State, dim: int) -> bool:
    """Whether tensor dimension ``dim`` indexes positions along some input axis."""
    return any(f.dim == dim for f in state)


# ---------------------------------------------------------------------------------------------
# Rules: each op family's spec (specs.py) names its rule
# ---------------------------------------------------------------------------------------------


def unfollowed(why: str) -> Rule:
    """The rule of ops a footprint cannot be followed through: the value becomes unknown, saying why."""
    return lambda op, lookup: Unknown(f"aten::{op.op} {why}")


@_follows_pairs
def constant(op: OpRecord, lookup: Lookup) -> Outcome:
    """Factories and fills: what they make depends on no pixel, whatever tensor gave them a shape."""
    return None


@_follows_pairs
def identity(op: OpRecord, lookup: Lookup) -> Outcome:
    """Copies and dropout: output unit i is input unit i."""
    return lookup(op.input_tensors()[0])


@_follows_pairs
def elementwise(op: OpRecord, lookup: Lookup) -> Outcome:
    """Output unit i reads unit i of every (broadcast) input."""
    target = op.outputs[0].shape
    states = [
        (_broadcast(state, tensor, target), target) for tensor in op.input_tensors() if (state := lookup(tensor)) is not None
    ]
    return _merge(op, states)


def halves(op: OpRecord, lookup: Lookup) -> Outcome:
    """A gated linear unit: unit i of ``dim`` reads units i and i + n/2, exact unless ``dim`` indexes an axis."""
    x = op.tensor("self")
    state = lookup(x)
    if state is not None and _indexes(state, op.get("dim", -1) % len(x.shape)):
        return Unknown(f"aten::{op.op} pairs units half an axis apart")
    return state


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


def convolution(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("input")
    state = lookup(x)
    if state is None:
        return None
    dims = len(x.shape) - 2
    if _off_grid_along(state, set(range(2, len(x.shape)))):
        return _off_grid(op)
    kernel = op.tensor("weight").shape[2:]
    stride, padding, dilation = (spatial(op[name], dims) for name in ("stride", "padding", "dilation"))
    if op["transposed"]:
        return _transposed(state, x.shape, kernel, stride, padding, dilation)
    return _window(state, len(x.shape), kernel, stride, padding, dilation)


def _transposed(state: State, shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                padding: tuple[int, ...], dilation: tuple[int, ...]) -> State:  # fmt: skip
    """Output o receives input i where o = i·s − p + t·d: the widest set of inputs any output unit receives.

    With a stride, units of different residues mod s receive different taps: they are off one grid.
    """
    first = len(shape) - len(kernel)
    result = []
    for footprint in state:
        axis = footprint.dim - first if footprint.dim is not None else -1
        if not 0 <= axis < len(kernel):
            result.append(footprint)
            continue
        s, p, d, k, j = stride[axis], padding[axis], dilation[axis], kernel[axis], footprint.jump
        widest = (0, 0)
        for residue in range(s):  # output units o ≡ residue (mod s) receive the same taps
            sources = [(residue + p - t * d) // s for t in range(k) if (residue + p - t * d) % s == 0]
            if sources and max(sources) - min(sources) >= widest[1] - widest[0]:
                widest = (min(sources), max(sources))
        low, high = widest
        lo, hi = footprint.lo + low * j, footprint.hi + high * j
        result.append(replace(footprint, lo=lo, hi=hi) if s == 1 else footprint.off_grid(lo, hi, shape))
    return tuple(result)


def pooling(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    kernel, stride, padding, dilation = pool_geometry(op)
    if _off_grid_along(state, set(range(len(x.shape) - len(kernel), len(x.shape)))):
        return _off_grid(op)
    return _window(state, len(x.shape), kernel, stride, padding, dilation)


def adaptive_pooling(op: OpRecord, lookup: Lookup) -> Outcome:
    """Exact where windows are even (n a multiple of m) or global; uneven windows have no one jump."""
    x, out = op.tensor("self"), op.outputs[0]
    state = lookup(x)
    if state is None:
        return None
    dims = len(spatial(op["output_size"], 1))
    first = len(x.shape) - dims
    if _off_grid_along(state, set(range(first, len(x.shape)))):
        return _off_grid(op)
    result = []
    for footprint in state:
        if footprint.dim is not None and footprint.dim >= first:
            n, m = x.shape[footprint.dim], out.shape[footprint.dim]
            if n % m and m != 1:
                return Unknown(f"aten::{op.op} pools {n} positions into {m} windows of uneven length")
            j = footprint.jump
            window = max(adaptive_windows(n, m))
            result.append(Footprint(footprint.dim, footprint.lo, footprint.hi + (window - 1) * j, j * Fraction(n, m)))
        else:
            result.append(footprint)
    return tuple(result)


@_follows_pairs
def reduction(op: OpRecord, lookup: Lookup) -> Outcome:
    """A reduction over ``dim`` (every dimension without one); ``max(a, b)`` and ``min(a, b)`` are elementwise."""
    if isinstance(op.get("other"), TensorMeta):
        return elementwise(op, lookup)
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
    return tuple(_redim(f, lambda dim: dim - sum(1 for r in reduced if r < dim)) for f in collapsed)


def resampling(taps: int) -> Rule:
    """Interpolation reading up to ``taps`` input units per axis.

    Upsampling by a whole factor leaves units off one grid (repeated or between two input units), the
    widest reading ``taps``; nearest downsampling by a whole factor is a stride. Other ratios read
    taps that vary from unit to unit, and a bilinear or bicubic downsampling weighs some taps by zero.
    """

    def resample(op: OpRecord, lookup: Lookup) -> Outcome:
        x, out = op.input_tensors()[0], op.outputs[0]
        state = lookup(x)
        if state is None:
            return None
        if _off_grid_along(state, set(range(2, len(x.shape)))):
            return _off_grid(op)
        result = []
        for footprint in state:
            if footprint.dim is None or footprint.dim < 2 or x.shape[footprint.dim] == out.shape[footprint.dim]:
                result.append(footprint)
                continue
            n, m, j = x.shape[footprint.dim], out.shape[footprint.dim], footprint.jump
            if m % n == 0:
                result.append(footprint.off_grid(footprint.lo, footprint.hi + (taps - 1) * j, x.shape))
            elif n % m == 0 and taps == 1:
                result.append(replace(footprint, jump=j * (n // m)))
            else:
                return Unknown(f"aten::{op.op} resamples {n} positions to {m}, which units read unevenly")
        return tuple(result)

    return resample


def padding(op: OpRecord, lookup: Lookup) -> Outcome:
    """Constant, reflection or replication padding: unit 0 moves out by the padding before it."""
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    pads = list(op.get("pad") or op["padding"])  # (last-dim before, last-dim after, second-last before, …)
    if _off_grid_along(state, set(range(len(x.shape) - len(pads) // 2, len(x.shape)))):
        return _off_grid(op)
    shifted = []
    for footprint in state:
        index = 2 * (len(x.shape) - 1 - footprint.dim) if footprint.dim is not None else len(pads)
        before = pads[index] if index < len(pads) else 0
        shifted.append(replace(footprint, lo=footprint.lo - before * footprint.jump, hi=footprint.hi - before * footprint.jump))
    return tuple(shifted)


def concatenation(op: OpRecord, lookup: Lookup) -> Outcome:
    """Branches joined along a dimension no axis is indexed by: the widest branch, where it contains the others."""
    out = op.outputs[0]
    dim = op.get("dim", 0) % len(out.shape)
    states = [state for tensor in op["tensors"] if isinstance(tensor, TensorMeta) and (state := lookup(tensor)) is not None]
    if any(_indexes(state, dim) for state in states):
        return Unknown(f"aten::{op.op} joins pieces along a dimension that indexes input positions")
    widest = []
    for footprints in zip(*states, strict=True):
        container = min(footprints, key=lambda f: (f.lo, -f.hi))
        if any(f.dim != container.dim or f.jump != container.jump or f.hi > container.hi for f in footprints):
            return Unknown(f"aten::{op.op} joins branches whose footprints do not nest")
        widest.append(container)
    return tuple(widest) if states else None


def stacking(op: OpRecord, lookup: Lookup) -> Outcome:
    """Pieces stacked along a new dimension: exact where every piece sees the same span."""
    out = op.outputs[0]
    dim = op.get("dim", 0) % len(out.shape)
    states = {lookup(tensor) for tensor in op["tensors"] if isinstance(tensor, TensorMeta)}
    states.discard(None)
    if len(states) > 1:
        return Unknown(f"aten::{op.op} stacks pieces that see different spans")
    if not states:
        return None
    (state,) = states
    return tuple(replace(f, dim=f.dim + 1) if f.dim is not None and f.dim >= dim else f for f in state)  # type: ignore[union-attr]


def _reshaped(state: State, source: tuple[int, ...], target: tuple[int, ...]) -> State | None:
    """Follow a view or reshape: a dimension kept whole keeps indexing; one merged with others indexes the merged one.

    None where an indexing dimension is split, or a merged one reshaped other than by merging it further.
    """
    mapping: dict[int, int] = {}  # source dimension -> the target dimension it is kept as, or merged into
    split: set[int] = set()
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
        if len(real_target) == 1:
            mapping.update((d, real_target[0]) for d in real_source)
        else:
            split.update(real_source)
    result = []
    for footprint in state:
        if footprint.pair is not None:
            dims = (footprint.dim, footprint.pair.dim)
            if any(d in split or d not in mapping or source[d] != target[mapping[d]] for d in dims):  # type: ignore[index]
                return None
            result.append(_redim(footprint, mapping.__getitem__))
        elif footprint.dim is None:
            result.append(footprint)
        elif source[footprint.dim] == 1:
            result.append(replace(footprint, dim=None))
        elif footprint.dim in split:
            return None
        else:
            if footprint.span is None and source[footprint.dim] != target[mapping[footprint.dim]]:
                footprint = footprint.off_grid(footprint.lo, footprint.hi, source)
            result.append(replace(footprint, dim=mapping[footprint.dim]))
    return tuple(result)


@_follows_pairs
def reshaping(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.input_tensors()[0]
    state = lookup(x)
    if state is None:
        return None
    out = op.outputs[0].shape
    if x.shape == out:
        return state
    reshaped = _reshaped(state, x.shape, out)
    return reshaped if reshaped is not None else Unknown(f"aten::{op.op} splits a dimension that indexes input positions")


@_follows_pairs
def expanding(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("self")
    state = lookup(x)
    return None if state is None else _broadcast(state, x, op.outputs[0].shape)


@_follows_pairs
def permuting(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.input_tensors()[0]
    state = lookup(x)
    if state is None:
        return None
    rank = len(x.shape)
    if "dims" in op.arguments:  # permute
        order = [d % rank for d in op["dims"]]
    else:  # transpose, t, swapaxes
        first, second = (op.get("dim0", 0) % rank, op.get("dim1", 1) % rank) if rank > 1 else (0, 0)
        order = list(range(rank))
        order[first], order[second] = order[second], order[first]
    return tuple(_redim(f, order.index) for f in state)


def slicing(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return None
    dim = op.get("dim", 0) % len(x.shape)
    if _off_grid_along(state, {dim}):
        return _off_grid(op)
    selects = "index" in op.arguments  # select drops the dimension; slice and narrow keep it
    result = []
    for footprint in state:
        if footprint.dim != dim:
            shift = 1 if selects and footprint.dim is not None and footprint.dim > dim else 0
            result.append(replace(footprint, dim=footprint.dim - shift) if shift else footprint)
            continue
        start = op.get("start") or op.get("index") or 0
        start = start % x.shape[dim] if start < 0 else min(start, x.shape[dim])  # slice clamps; select counts from the end
        step = op.get("step", 1) or 1
        j = footprint.jump
        moved = replace(footprint, lo=footprint.lo + start * j, hi=footprint.hi + start * j, jump=j * step)
        result.append(replace(moved, dim=None) if selects else moved)
    return tuple(result)


def splitting(op: OpRecord, lookup: Lookup) -> list[Outcome]:
    """Split, chunk and unbind: each piece starts where the pieces before it end along ``dim``."""
    x = op.tensor("self")
    state = lookup(x)
    if state is None:
        return [None] * len(op.outputs)
    dim = op.get("dim", 0) % len(x.shape)
    if _off_grid_along(state, {dim}):
        return [_off_grid(op)] * len(op.outputs)
    pieces: list[Outcome] = []
    start = 0
    unbinds = bool(op.outputs) and len(op.outputs[0].shape) < len(x.shape)  # unbind drops the dimension
    for output in op.outputs:
        piece = []
        for footprint in state:
            if footprint.dim == dim:
                j = footprint.jump
                moved = replace(footprint, lo=footprint.lo + start * j, hi=footprint.hi + start * j)
                piece.append(replace(moved, dim=None) if unbinds else moved)
            elif unbinds and footprint.dim is not None and footprint.dim > dim:
                piece.append(replace(footprint, dim=footprint.dim - 1))
            else:
                piece.append(footprint)
        pieces.append(tuple(piece))
        start += 1 if unbinds else output.shape[dim]
    return pieces


def matrix_product(left: str, right: str, bias: str | None) -> Rule:
    """A matrix product of arguments ``left`` and ``right``: rows follow the left, columns the right; the inner dimension is mixed."""

    @_follows_pairs
    def product(op: OpRecord, lookup: Lookup) -> Outcome:
        out = op.outputs[0]
        a, b = op.tensor(left), op.tensor(right)
        states = []
        for tensor, contracted in ((a, len(a.shape) - 1), (b, len(b.shape) - 2)):
            state = lookup(tensor)
            if state is not None:
                states.append((_broadcast(_collapse(state, tensor.shape, {contracted}), tensor, out.shape), out.shape))
        if bias is not None and (state := lookup(op.tensor(bias))) is not None:
            states.append((_broadcast(state, op.tensor(bias), out.shape), out.shape))
        return _merge(op, states)

    return product


def attention(op: OpRecord, lookup: Lookup) -> list[Outcome]:
    """Fused attention: query position l reads its query and every key and value; its other outputs are not followed."""
    q, k, v, out = op.tensor("query"), op.tensor("key"), op.tensor("value"), op.outputs[0]
    states = []
    for tensor, mixed in ((q, {len(q.shape) - 1}), (k, {len(k.shape) - 2, len(k.shape) - 1}),
                          (v, {len(v.shape) - 2, len(v.shape) - 1})):  # fmt: skip
        state = lookup(tensor)
        if state is not None:
            states.append((_broadcast(_collapse(state, tensor.shape, mixed), tensor, out.shape), out.shape))
    mask = op.optional_tensor("attn_mask")
    if mask is not None and (state := lookup(mask)) is not None:
        states.append((_broadcast(_collapse(state, mask.shape, {len(mask.shape) - 1}), mask, out.shape), out.shape))
    rest = Unknown(f"aten::{op.op} has a receptive-field rule for its output only")
    return [_merge(op, states), *[rest] * (len(op.outputs) - 1)]


@_follows_pairs
def softmax(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("self")
    state = lookup(x)
    return None if state is None else _collapse(state, x.shape, {op["dim"] % len(x.shape)})


@_follows_pairs
def batch_norm(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("input")
    state = lookup(x)
    if state is None:
        return None
    # In training the statistics come from every position of the batch.
    return _collapse(state, x.shape) if op.get("training", False) else state


@_follows_pairs
def layer_norm(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("input")
    state = lookup(x)
    if state is None:
        return None
    normalised = set(range(len(x.shape) - len(op["normalized_shape"]), len(x.shape)))
    return _collapse(state, x.shape, normalised)


@_follows_pairs
def group_norm(op: OpRecord, lookup: Lookup) -> Outcome:
    x = op.tensor("input")
    state = lookup(x)
    return None if state is None else _collapse(state, x.shape, set(range(1, len(x.shape))))  # stats over C/G × space


def along_channels(op: OpRecord, lookup: Lookup) -> Outcome:
    """Channel shuffles move units along dimension 1 only: exact unless that dimension indexes an axis."""
    x = op.tensor("self")
    state = lookup(x)
    if state is not None and _indexes(state, 1):
        return Unknown(f"aten::{op.op} reorders units along a dimension that indexes input positions")
    return state


@_follows_pairs
def copy(op: OpRecord, lookup: Lookup) -> Outcome:
    src, out = op.tensor("src"), op.outputs[0]
    state = lookup(src)
    return None if state is None else _broadcast(state, src, out.shape)


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


def footprints(trace: Trace, rule_for: Callable[[OpRecord], Rule]) -> dict[int, State | Unknown]:
    """The footprint state of every tensor value that depends on the input's pixels, each op by ``rule_for(op)``."""
    states: dict[int, State | Unknown] = {}
    for meta in spatial_inputs(trace):
        if meta.value is not None:
            states[meta.value] = tuple(Footprint(d, Fraction(0), Fraction(0), Fraction(1)) for d in range(2, len(meta.shape)))

    def lookup(tensor: TensorMeta) -> State | None:
        state = states.get(tensor.value) if tensor.value is not None else None
        return state if isinstance(state, tuple) else None

    for layer in trace.layers:
        for op in layer.ops:
            read = [states[t.value] for t in op.input_tensors() if t.value is not None and t.value in states]
            if not read:
                continue
            unknown = next((state for state in read if isinstance(state, Unknown)), None)
            rule = rule_for(op)
            if unknown is not None:
                outcome: Outcome | list[Outcome] = unknown
            elif not getattr(rule, "follows_pairs", False) and any(isinstance(s, tuple) and _paired(s) for s in read):
                outcome = Unknown(f"aten::{op.op} has no rule for units that see two positions at once (attention scores)")
            else:
                try:
                    outcome = rule(op, lookup)
                except Unfollowable as why:
                    outcome = Unknown(f"aten::{op.op} {why}")
            outcomes = outcome if isinstance(outcome, list) else [outcome] * len(op.outputs)
            for output, result in zip(op.outputs, outcomes, strict=True):
                if isinstance(result, tuple) and any(d is not None and d >= len(output.shape) for d in _dims(result)):
                    result = Unknown(f"aten::{op.op} gives an output its rule does not describe")
                if isinstance(result, Unknown) and result is not unknown:
                    where = layer.name if layer.type == layer.name else f"{layer.name} ({layer.type})"
                    result = Unknown(f"{result.reason}, in {where}")
                if output.value is None:
                    continue
                if result is None:
                    states.pop(output.value, None)
                else:
                    states[output.value] = result
    return states


def _dims(state: State) -> list[int | None]:
    return [d for f in state for d in (f.dim, f.pair.dim if f.pair is not None else None)]


def describe(state: State | Unknown | None) -> tuple[tuple[int, ...] | None, tuple[float | None, ...] | None]:
    """(receptive field in input pixels per axis, effective stride per axis or None where every unit sees it all).

    Both are None for a value that depends on no input pixel, or whose footprint is unknown.
    """
    if not isinstance(state, tuple) or _paired(state):
        return None, None
    strides = tuple(
        (int(f.jump) if f.jump.denominator == 1 else float(f.jump)) if f.dim is not None and f.span is None else None
        for f in state
    )
    return tuple(f.size for f in state), strides


def unknown_reason(state: State | Unknown | None) -> str:
    """Why a value's receptive field is unknown; empty where it is known or depends on no input pixel."""
    if isinstance(state, tuple) and _paired(state):
        return "units see two positions at once (attention scores): no one footprint each"
    return state.reason if isinstance(state, Unknown) else ""
