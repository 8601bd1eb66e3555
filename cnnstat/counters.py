"""Counting: pure functions from traced records to numbers, one per aten op and per special layer.

Op counters are keyed by aten op name (``convolution``, ``addmm``, …). Layer counters, keyed by
module class and looked up along its MRO, override the connection figures of layers whose ops do
not show their structure (LeNet's trainable subsampling, sparse C3, RBF output). An op that no
counter knows is reported as uncounted, never silently zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from torch import nn

from .trace import LayerRecord, OpRecord, TensorMeta
from .zoo.lenet_layers import ConnectionTableConv2d, EuclideanRBF, Subsampling


@dataclass(frozen=True)
class Counts:
    """What one op or layer costs.

    ``macs``: multiply-accumulates of convolutions and matrix products (torch's FlopCounterMode / 2).
    ``elementwise``: other arithmetic, one per element per operation (bias, norm, activation, add, pool).
    ``fvcore``: what fvcore's default handles count for the torch call the op ran under.
    ``connections``: real links into output units (no links onto padding), one more per bias.
    ``formula_connections``: seed 004's closed form, which ignores padding.
    ``neurons``: output units of layers that combine several inputs (conv, linear, pooling).
    ``lenet``: seed 004's FLOPs: the closed-form connections of neuron ops, ``elementwise`` of the rest.
    """

    macs: int = 0
    elementwise: int = 0
    fvcore: int = 0
    connections: int = 0
    formula_connections: int = 0
    neurons: int = 0
    lenet: int = 0
    formula: str = ""
    uncounted: tuple[str, ...] = ()

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.macs + other.macs,
            self.elementwise + other.elementwise,
            self.fvcore + other.fvcore,
            self.connections + other.connections,
            self.formula_connections + other.formula_connections,
            self.neurons + other.neurons,
            self.lenet + other.lenet,
            " + ".join(f for f in (self.formula, other.formula) if f),
            self.uncounted + tuple(u for u in other.uncounted if u not in self.uncounted),
        )


# ---------------------------------------------------------------------------------------------
# Links along one spatial dimension
# ---------------------------------------------------------------------------------------------


def valid_taps(in_size: int, out_size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Sum over output positions of the kernel taps that land inside the input (not on padding)."""
    total = 0
    for tap in range(kernel):
        offset = tap * dilation - padding  # output o reads input o*stride + offset
        first = max(0, -(offset // stride))  # smallest o with o*stride + offset >= 0
        last = min(out_size - 1, (in_size - 1 - offset) // stride)
        total += max(0, last - first + 1)
    return total


def transposed_valid_taps(in_size: int, out_size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Links of a transposed convolution: input position i reaches output i*stride - padding + tap*dilation."""
    total = 0
    for tap in range(kernel):
        offset = tap * dilation - padding
        total += sum(1 for i in range(in_size) if 0 <= i * stride + offset < out_size)
    return total


def adaptive_window_total(in_size: int, out_size: int) -> int:
    """Sum of window lengths of adaptive pooling (start = ⌊o·n/m⌋, end = ⌈(o+1)·n/m⌉)."""
    return sum(-((-(o + 1) * in_size) // out_size) - (o * in_size) // out_size for o in range(out_size))


def _spatial(values: object, dims: int) -> tuple[int, ...]:
    if isinstance(values, int):
        return (values,) * dims
    values = tuple(values)  # type: ignore[arg-type]
    return values * dims if len(values) == 1 else values


def _square(sizes: tuple[int, ...], symbol_power: bool = True) -> str:
    """``(5, 5)`` -> ``5²``; ``(3, 5)`` -> ``3·5``."""
    if len(set(sizes)) == 1 and len(sizes) > 1 and symbol_power:
        return f"{sizes[0]}{'²³'[len(sizes) - 2] if len(sizes) <= 3 else '^' + str(len(sizes))}"
    return "·".join(str(s) for s in sizes)


def _batch_prefix(batch: int) -> str:
    return f"{batch}·" if batch != 1 else ""


# ---------------------------------------------------------------------------------------------
# Op counters
# ---------------------------------------------------------------------------------------------

OpCounter = Callable[[OpRecord], Counts]
OP_COUNTERS: dict[str, OpCounter] = {}


def op_counter(*names: str) -> Callable[[OpCounter], OpCounter]:
    """Register a counter for the named aten ops."""

    def register(counter: OpCounter) -> OpCounter:
        for name in names:
            OP_COUNTERS[name] = counter
        return counter

    return register


def _tensor(op: OpRecord, index: int) -> TensorMeta:
    value = op.args[index]
    assert isinstance(value, TensorMeta), f"{op.op} argument {index} is not a tensor"
    return value


def _optional_tensor(op: OpRecord, index: int) -> TensorMeta | None:
    value = op.args[index] if index < len(op.args) else None
    return value if isinstance(value, TensorMeta) else None


def _weighted_op(macs: int, bias_ops: int, links: int, neurons: int, formula: str) -> Counts:
    """A convolution or matrix product: fvcore counts its MACs, the seed's formula every tap plus the bias."""
    return Counts(
        macs=macs,
        elementwise=bias_ops,
        fvcore=macs,
        connections=links + bias_ops,
        formula_connections=macs + bias_ops,
        neurons=neurons,
        formula=formula,
    )


@op_counter("convolution", "_convolution")
def count_convolution(op: OpRecord) -> Counts:
    x, w, bias = _tensor(op, 0), _tensor(op, 1), _optional_tensor(op, 2)
    stride, padding, dilation, transposed = op.args[3], op.args[4], op.args[5], op.args[6]
    groups = op.args[8]
    out = op.outputs[0]
    dims = len(x.shape) - 2
    stride, padding, dilation = _spatial(stride, dims), _spatial(padding, dims), _spatial(dilation, dims)
    batch, kernel = x.shape[0], w.shape[2:]
    conv_shape = x.shape[2:] if transposed else out.shape[2:]
    macs = batch * math.prod(w.shape) * math.prod(conv_shape)
    has_bias = bias is not None
    per_dim = transposed_valid_taps if transposed else valid_taps
    taps = math.prod(
        per_dim(x.shape[2 + d], out.shape[2 + d], kernel[d], stride[d], padding[d], dilation[d]) for d in range(dims)
    )
    # weight is (out, in/groups, k…), or (in, out/groups, k…) when transposed: either way one link per tap
    links = batch * w.shape[0] * w.shape[1] * taps
    bias_links = out.numel if has_bias else 0
    in_per_group, out_channels = (w.shape[0] // groups, w.shape[1] * groups) if transposed else (w.shape[1], w.shape[0])
    plus = "+1" if has_bias else ""
    formula = f"{_batch_prefix(batch)}({in_per_group}·{_square(kernel)}{plus})·{out_channels}·{_square(out.shape[2:])}"
    return _weighted_op(macs, bias_links, links, out.numel, formula)


def _matmul_counts(op: OpRecord, a: TensorMeta, b: TensorMeta, bias: TensorMeta | None) -> Counts:
    out = op.outputs[0]
    inner = a.shape[-1]
    macs = out.numel * inner
    bias_ops = out.numel if bias is not None else 0
    rows = out.numel // out.shape[-1]
    plus = "+1" if bias is not None else ""
    formula = f"{_batch_prefix(rows)}({inner}{plus})·{out.shape[-1]}"
    return _weighted_op(macs, bias_ops, macs, out.numel, formula)


@op_counter("addmm", "baddbmm")
def count_addmm(op: OpRecord) -> Counts:
    return _matmul_counts(op, _tensor(op, 1), _tensor(op, 2), _tensor(op, 0))


@op_counter("mm", "bmm")
def count_mm(op: OpRecord) -> Counts:
    return _matmul_counts(op, _tensor(op, 0), _tensor(op, 1), None)


@op_counter(
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
)
def count_fused_attention(op: OpRecord) -> Counts:
    q, k, v = _tensor(op, 0), _tensor(op, 1), _tensor(op, 2)
    *batch, length, embed = q.shape
    source = k.shape[-2]
    scores = math.prod(batch) * length * source
    macs = scores * (embed + v.shape[-1])
    # fvcore has no handle for scaled_dot_product_attention: it skips it.
    return Counts(macs=macs, elementwise=3 * scores, fvcore=0)


def _pool_counts(
    op: OpRecord, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...]
) -> Counts:
    x, out = _tensor(op, 0), op.outputs[0]
    dims = len(kernel)
    planes = math.prod(x.shape[:-dims])
    taps = math.prod(
        valid_taps(x.shape[-dims + d], out.shape[-dims + d], kernel[d], stride[d], padding[d], dilation[d]) for d in range(dims)
    )
    links = planes * taps
    formula_links = out.numel * math.prod(kernel)
    formula = f"{_square(kernel)}·{_square(out.shape[-dims:])}·{planes}"
    return Counts(elementwise=links, connections=links, formula_connections=formula_links, neurons=out.numel, formula=formula)


def _op_dims(op: OpRecord) -> int:
    """Spatial dimensions of a pooling op, read from its name (``max_pool2d`` -> 2)."""
    return next(int(c) for c in reversed(op.op) if c.isdigit())


@op_counter("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices")
def count_max_pool(op: OpRecord) -> Counts:
    dims = _op_dims(op)
    kernel = _spatial(op.args[1], dims)
    stride = _spatial(op.args[2], dims) if len(op.args) > 2 and op.args[2] else kernel
    padding = _spatial(op.args[3], dims) if len(op.args) > 3 else (0,) * dims
    dilation = _spatial(op.args[4], dims) if len(op.args) > 4 else (1,) * dims
    return _pool_counts(op, kernel, stride, padding, dilation)


@op_counter("avg_pool1d", "avg_pool2d", "avg_pool3d")
def count_avg_pool(op: OpRecord) -> Counts:
    dims = _op_dims(op)
    kernel = _spatial(op.args[1], dims)
    stride = _spatial(op.args[2], dims) if len(op.args) > 2 and op.args[2] else kernel
    padding = _spatial(op.args[3], dims) if len(op.args) > 3 else (0,) * dims
    return _pool_counts(op, kernel, stride, padding, (1,) * dims)


def _adaptive_counts(x: TensorMeta, out: TensorMeta, dims: int) -> Counts:
    planes = math.prod(x.shape[:-dims])
    windows = math.prod(adaptive_window_total(x.shape[-dims + d], out.shape[-dims + d]) for d in range(dims))
    links = planes * windows
    return Counts(
        elementwise=links, connections=links, formula_connections=links, neurons=out.numel, formula=f"{windows}·{planes}"
    )


@op_counter("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def count_adaptive_pool(op: OpRecord) -> Counts:
    x, out = _tensor(op, 0), op.outputs[0]
    counts = _adaptive_counts(x, out, _op_dims(op))
    # fvcore counts one flop per input element of adaptive_avg_pool2d, and nothing for the others.
    return replace(counts, fvcore=x.numel if op.call == "adaptive_avg_pool2d" else 0)


_REDUCTIONS = (
    "sum", "mean", "amax", "amin", "prod", "var", "std", "var_mean", "std_mean", "max", "min",
    "argmax", "argmin", "logsumexp", "norm", "linalg_vector_norm", "all", "any",
)  # fmt: skip


@op_counter(*_REDUCTIONS)
def count_reduction(op: OpRecord) -> Counts:
    x = _tensor(op, 0)
    if op.op == "mean" and op.call.startswith("adaptive_avg_pool") and op.outputs:
        # torch lowers global adaptive average pooling to a mean over the spatial dims: a pooling layer.
        out = op.outputs[0]
        window, planes = x.numel // max(out.numel, 1), out.numel
        return Counts(
            elementwise=x.numel,
            fvcore=x.numel if op.call == "adaptive_avg_pool2d" else 0,
            connections=x.numel,
            formula_connections=x.numel,
            neurons=out.numel,
            formula=f"{window}·{planes}",
        )
    return Counts(elementwise=x.numel)


@op_counter(
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "native_layer_norm", "native_group_norm",
)  # fmt: skip
def count_norm(op: OpRecord) -> Counts:
    x = _tensor(op, 0)
    weight = _optional_tensor(op, 2 if op.op == "native_layer_norm" else 1)
    if op.op in ("native_layer_norm", "native_group_norm"):
        # statistics, normalisation and affine: fvcore's estimate of 5 per element (4 without affine)
        return Counts(elementwise=5 * x.numel, fvcore=x.numel * (5 if weight is not None else 4))
    training = next((arg for arg in op.args[3:] if isinstance(arg, bool)), False)
    fvcore = x.numel * ((5 if weight is not None else 4) if training else (2 if weight is not None else 1))
    # Inference batch norm is a scale and a shift per element once the statistics are folded.
    return Counts(elementwise=2 * x.numel, fvcore=fvcore)


@op_counter("_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax")
def count_softmax(op: OpRecord) -> Counts:
    return Counts(elementwise=3 * _tensor(op, 0).numel)  # exponent, sum, divide


_UPSAMPLE_FVCORE = {"upsample_nearest2d": 1, "upsample_bilinear2d": 4}


@op_counter(
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "upsample_linear1d",
    "upsample_bilinear2d",
    "upsample_bicubic2d",
    "upsample_trilinear3d",
    "_upsample_nearest_exact2d",
    "grid_sampler_2d",
)
def count_resample(op: OpRecord) -> Counts:
    out = op.outputs[0]
    fvcore = out.numel * (4 if op.op == "grid_sampler_2d" else _UPSAMPLE_FVCORE.get(op.op, 0))
    return Counts(elementwise=out.numel, fvcore=fvcore)


# Ops that move or allocate data and compute nothing.
_DATA_MOVEMENT = {
    "cat",
    "stack",
    "clone",
    "copy_",
    "_to_copy",
    "empty",
    "empty_like",
    "empty_strided",
    "new_empty",
    "new_empty_strided",
    "new_zeros",
    "new_ones",
    "new_full",
    "zeros",
    "zeros_like",
    "ones",
    "ones_like",
    "full",
    "full_like",
    "fill_",
    "constant_pad_nd",
    "reflection_pad1d",
    "reflection_pad2d",
    "replication_pad2d",
    "roll",
    "index",
    "index_select",
    "gather",
    "scatter",
    "index_put",
    "index_put_",
    "slice_scatter",
    "select_scatter",
    "flip",
    "repeat",
    "lift_fresh",
    "scalar_tensor",
    "arange",
    "contiguous",
    "_unsafe_index",
    "masked_select",
    "nonzero",
    "channel_shuffle",
    "pixel_shuffle",
    "pixel_unshuffle",
    "_unsafe_view",
    "as_strided_",
    "resize_",
    "zero_",
    "tril",
    "triu",
    "native_dropout",
    "bernoulli_",
    "uniform_",
    "normal_",
    "_local_scalar_dense",
}


# Elementwise activations that carry no pointwise tag in torch.
_UNTAGGED_ELEMENTWISE = {
    "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "mish", "mish_",
    "softplus", "elu", "elu_", "leaky_relu", "leaky_relu_", "_prelu_kernel", "glu", "rrelu_with_noise",
}  # fmt: skip


def _count_op_cost(op: OpRecord) -> Counts:
    counter = OP_COUNTERS.get(op.op)
    if counter is not None:
        return counter(op)
    if op.is_view or op.op in _DATA_MOVEMENT:
        return Counts()
    if op.pointwise or op.op in _UNTAGGED_ELEMENTWISE:
        return Counts(elementwise=max((o.numel for o in op.outputs), default=0))
    return Counts(uncounted=(op.op,))


def count_op(op: OpRecord) -> Counts:
    """The counts of one aten op, with its seed-004 FLOPs."""
    counts = _count_op_cost(op)
    return replace(counts, lenet=counts.formula_connections if counts.neurons else counts.elementwise)


# ---------------------------------------------------------------------------------------------
# Layer counters: structure the ops do not show
# ---------------------------------------------------------------------------------------------

LayerCounter = Callable[[nn.Module, LayerRecord, Counts], Counts]
LAYER_COUNTERS: dict[type, LayerCounter] = {}


def layer_counter(module_type: type) -> Callable[[LayerCounter], LayerCounter]:
    """Register a counter for a module class (and, through the MRO, its subclasses)."""

    def register(counter: LayerCounter) -> LayerCounter:
        LAYER_COUNTERS[module_type] = counter
        return counter

    return register


def _unit_counts(links_per_unit: int, units: int, formula: str, op_counts: Counts) -> Counts:
    links = links_per_unit * units
    return replace(op_counts, connections=links, formula_connections=links, neurons=units, lenet=links, formula=formula)


@layer_counter(Subsampling)
def count_subsampling(module: nn.Module, layer: LayerRecord, op_counts: Counts) -> Counts:
    """k² inputs, times one weight, plus one bias per output unit: (k²+1)·m²·a."""
    assert layer.output_shape is not None
    batch, channels, *spatial = layer.output_shape
    k = module.kernel_size
    formula = f"{_batch_prefix(batch)}({k}²+1)·{_square(tuple(spatial))}·{channels}"
    return _unit_counts(k * k + 1, math.prod(layer.output_shape), formula, op_counts)


@layer_counter(ConnectionTableConv2d)
def count_connection_table(module: nn.Module, layer: LayerRecord, op_counts: Counts) -> Counts:
    """Σ over output maps of (|inputs|·k²+1)·m²: only Table I's links are connections."""
    assert layer.output_shape is not None
    batch, _, *spatial = layer.output_shape
    k = module.kernel_size
    per_map_links = len(module.in_index) * k * k + module.out_channels
    positions = batch * math.prod(spatial)
    formula = f"{_batch_prefix(batch)}({len(module.in_index)}·{k}²+{module.out_channels})·{_square(tuple(spatial))}"
    return replace(
        op_counts,
        connections=per_map_links * positions,
        formula_connections=per_map_links * positions,
        lenet=per_map_links * positions,
        neurons=math.prod(layer.output_shape),
        formula=formula,
    )


@layer_counter(EuclideanRBF)
def count_rbf(module: nn.Module, layer: LayerRecord, op_counts: Counts) -> Counts:
    """Each RBF unit reads every input; it has no bias: in·out."""
    assert layer.output_shape is not None
    rows = math.prod(layer.output_shape[:-1])
    formula = f"{_batch_prefix(rows)}{module.in_features}·{module.out_features}"
    return _unit_counts(module.in_features, math.prod(layer.output_shape), formula, op_counts)


def layer_counter_for(module_type: type) -> LayerCounter | None:
    """The layer counter registered for this class or its nearest base class."""
    for base in module_type.__mro__:
        if base in LAYER_COUNTERS:
            return LAYER_COUNTERS[base]
    return None


def count_layer(layer: LayerRecord, module: nn.Module | None) -> Counts:
    """Counts of one traced layer: its ops summed, then the layer counter's structure if it has one."""
    total = Counts()
    for op in layer.ops:
        total = total + count_op(op)
    counter = layer_counter_for(type(module)) if module is not None and layer.is_module else None
    return counter(module, layer, total) if counter is not None else total
