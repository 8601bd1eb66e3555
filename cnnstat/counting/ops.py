"""Op counters: one pure function per op family, from an op's record to its :class:`Measures`.

Counters read arguments by their schema names (``stride``, ``padding``, ``groups``). Which aten ops
each counter serves is said once, by the op's spec (``specs.py``); an op without a spec is
reported as uncounted, never silently zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from .measures import Measures
from .records import OpRecord, TensorMeta

OpCounter = Callable[[OpRecord], Measures]
ByteCounter = Callable[[OpRecord], int]


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


def adaptive_windows(in_size: int, out_size: int) -> list[int]:
    """Window lengths of adaptive pooling, one per output position (start = ⌊o·n/m⌋, end = ⌈(o+1)·n/m⌉)."""
    return [-((-(o + 1) * in_size) // out_size) - (o * in_size) // out_size for o in range(out_size)]


def spatial(values: object, dims: int) -> tuple[int, ...]:
    """A per-dimension argument (``3``, ``[3]``, ``[3, 5]``) as one int per spatial dimension."""
    if isinstance(values, int):
        return (values,) * dims
    values = tuple(values)  # type: ignore[arg-type]
    return values * dims if len(values) == 1 else values


def pool_geometry(op: OpRecord) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Kernel, stride, padding and dilation of a max or average pooling op, one int per spatial dimension."""
    dims = next(int(c) for c in reversed(op.op) if c.isdigit())  # max_pool2d_with_indices -> 2
    kernel = spatial(op["kernel_size"], dims)
    stride = spatial(op["stride"], dims) if op.get("stride") else kernel
    padding = spatial(op.get("padding", 0), dims)
    dilation = spatial(op.get("dilation", 1), dims)
    return kernel, stride, padding, dilation


def square(sizes: tuple[int, ...]) -> str:
    """``(5, 5)`` -> ``5²``; ``(3, 5)`` -> ``3·5``."""
    if len(set(sizes)) == 1 and len(sizes) > 1:
        return f"{sizes[0]}{'²³'[len(sizes) - 2] if len(sizes) <= 3 else '^' + str(len(sizes))}"
    return "·".join(str(s) for s in sizes)


def batch_prefix(batch: int) -> str:
    return f"{batch}·" if batch != 1 else ""


def _gradient_macs(macs: int, *operands: TensorMeta) -> int:
    """A product's backward: one product of the same size per operand that needs a gradient."""
    return macs * sum(operand.requires_grad for operand in operands)


def _weighted(macs: int, bias_ops: int, links: int, neurons: int, backward: int, formula: str) -> Measures:
    """A convolution or matrix product: its products, the bias additions, and the closed form that counts both."""
    return Measures(
        macs=macs,
        elementwise=bias_ops,
        connections=links + bias_ops,
        formula_connections=macs + bias_ops,
        neurons=neurons,
        backward_macs=backward,
        formula=formula,
    )


# ---------------------------------------------------------------------------------------------
# Convolutions and matrix products
# ---------------------------------------------------------------------------------------------


def count_convolution(op: OpRecord) -> Measures:
    x, w, bias = op.tensor("input"), op.tensor("weight"), op.optional_tensor("bias")
    transposed, groups, out = op["transposed"], op["groups"], op.outputs[0]
    dims = len(x.shape) - 2
    stride, padding, dilation = (spatial(op[name], dims) for name in ("stride", "padding", "dilation"))
    batch, kernel = x.shape[0], w.shape[2:]
    conv_shape = x.shape[2:] if transposed else out.shape[2:]
    macs = batch * math.prod(w.shape) * math.prod(conv_shape)
    per_dim = transposed_valid_taps if transposed else valid_taps
    taps = math.prod(
        per_dim(x.shape[2 + d], out.shape[2 + d], kernel[d], stride[d], padding[d], dilation[d]) for d in range(dims)
    )
    # weight is (out, in/groups, k…), or (in, out/groups, k…) when transposed: either way one link per tap
    links = batch * w.shape[0] * w.shape[1] * taps
    bias_links = out.numel if bias is not None else 0
    formula = _transposed_formula(x, w, out, groups, bias) if transposed else _convolution_formula(x, w, out, bias)
    # grad input is a (transposed) convolution of grad output with the weight; grad weight one of the input
    # with grad output: each as many products as the forward pass
    return _weighted(macs, bias_links, links, out.numel, _gradient_macs(macs, x, w), formula)


def _convolution_formula(x: TensorMeta, w: TensorMeta, out: TensorMeta, bias: TensorMeta | None) -> str:
    """``(a/g·k²+1)·b·m²``: each of the b·m² output units reads a/g·k² inputs and a bias."""
    plus = "+1" if bias is not None else ""
    return f"{batch_prefix(x.shape[0])}({w.shape[1]}·{square(w.shape[2:])}{plus})·{w.shape[0]}·{square(out.shape[2:])}"


def _transposed_formula(x: TensorMeta, w: TensorMeta, out: TensorMeta, groups: int, bias: TensorMeta | None) -> str:
    """``a/g·k²·b·n² + b·m²``: each of the a·n² input units reaches b/g·k² outputs, then a bias per output unit.

    Over input positions, as the products run: from the output side, the units of a strided transposed
    convolution read varying numbers of taps, and ``(a/g·k²+1)·b·m²`` is not the count.
    """
    products = f"{w.shape[0] // groups}·{square(w.shape[2:])}·{w.shape[1] * groups}·{square(x.shape[2:])}"
    if bias is None:
        return f"{batch_prefix(x.shape[0])}{products}"
    terms = f"{products} + {w.shape[1] * groups}·{square(out.shape[2:])}"
    return f"{x.shape[0]}·({terms})" if x.shape[0] != 1 else terms


def _matmul(op: OpRecord, a: TensorMeta, b: TensorMeta, bias: TensorMeta | None) -> Measures:
    out = op.outputs[0]
    inner = a.shape[-1]
    macs = out.numel * inner
    bias_ops = out.numel if bias is not None else 0
    rows = out.numel // out.shape[-1]
    reads = f"({inner}+1)" if bias is not None else f"{inner}"
    formula = f"{batch_prefix(rows)}{reads}·{out.shape[-1]}"
    return _weighted(macs, bias_ops, macs, out.numel, _gradient_macs(macs, a, b), formula)


def count_addmm(op: OpRecord) -> Measures:
    return _matmul(op, op.tensor("mat1"), op.tensor("mat2"), op.tensor("self"))


def count_baddbmm(op: OpRecord) -> Measures:
    return _matmul(op, op.tensor("batch1"), op.tensor("batch2"), op.tensor("self"))


def count_mm(op: OpRecord) -> Measures:
    return _matmul(op, op.tensor("self"), op.tensor("mat2"), None)


def count_fused_attention(op: OpRecord) -> Measures:
    q, k, v = op.tensor("query"), op.tensor("key"), op.tensor("value")
    *batch, length, embed = q.shape
    scores = math.prod(batch) * length * k.shape[-2]
    macs = scores * (embed + v.shape[-1])
    # The fused backward recomputes the scores, then forms grad scores, grad V, grad Q and grad K.
    backward = scores * (3 * embed + 2 * v.shape[-1]) if q.requires_grad or k.requires_grad or v.requires_grad else 0
    return Measures(macs=macs, elementwise=3 * scores, backward_macs=backward)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


def _pool(op: OpRecord, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
          dilation: tuple[int, ...]) -> Measures:  # fmt: skip
    x, out = op.tensor("self"), op.outputs[0]
    dims = len(kernel)
    planes = math.prod(x.shape[:-dims])
    taps = math.prod(
        valid_taps(x.shape[-dims + d], out.shape[-dims + d], kernel[d], stride[d], padding[d], dilation[d]) for d in range(dims)
    )
    links = planes * taps
    formula = f"{square(kernel)}·{square(out.shape[-dims:])}·{planes}"
    return Measures(
        elementwise=links, connections=links, formula_connections=out.numel * math.prod(kernel), neurons=out.numel,
        formula=formula,
    )  # fmt: skip


def count_max_pool(op: OpRecord) -> Measures:
    return _pool(op, *pool_geometry(op))


def count_avg_pool(op: OpRecord) -> Measures:
    kernel, stride, padding, _ = pool_geometry(op)
    return _pool(op, kernel, stride, padding, (1,) * len(kernel))


def count_adaptive_pool(op: OpRecord) -> Measures:
    x, out = op.tensor("self"), op.outputs[0]
    dims = len(spatial(op["output_size"], 1))
    planes = math.prod(x.shape[:-dims])
    windows = math.prod(sum(adaptive_windows(x.shape[-dims + d], out.shape[-dims + d])) for d in range(dims))
    links = planes * windows
    return Measures(
        elementwise=links, connections=links, formula_connections=links, neurons=out.numel, formula=f"{windows}·{planes}"
    )


def count_reduction(op: OpRecord) -> Measures:
    return Measures(elementwise=op.tensor("self").numel)


def count_mean(op: OpRecord) -> Measures:
    """A mean; torch lowers global adaptive average pooling to one over the spatial dims, which is a pooling layer."""
    x = op.tensor("self")
    if not (op.call.startswith("adaptive_avg_pool") and op.outputs):
        return count_reduction(op)
    out = op.outputs[0]
    window = x.numel // max(out.numel, 1)
    return Measures(
        elementwise=x.numel, connections=x.numel, formula_connections=x.numel, neurons=out.numel,
        formula=f"{window}·{out.numel}",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Normalisation, softmax, resampling
# ---------------------------------------------------------------------------------------------


def count_batch_norm(op: OpRecord) -> Measures:
    # A scale and a shift per element once the statistics are folded (or computed: counted alike).
    return Measures(elementwise=2 * op.tensor("input").numel, formula=f"2·{op.tensor('input').numel}")


def count_layer_norm(op: OpRecord) -> Measures:
    # statistics (mean, variance), normalisation (subtract, divide) and the affine: 5 per element
    return Measures(elementwise=5 * op.tensor("input").numel, formula=f"5·{op.tensor('input').numel}")


def count_softmax(op: OpRecord) -> Measures:
    return Measures(elementwise=3 * op.tensor("self").numel, formula=f"3·{op.tensor('self').numel}")  # exponent, sum, divide


_GRID_TAPS = {0: 4, 1: 0, 2: 16}  # grid_sampler's interpolation_mode: bilinear, nearest, bicubic


def resampling(taps: int) -> OpCounter:
    """Interpolation reading ``taps`` input units per output element: one multiply-accumulate per tap; nearest only copies."""

    def count_resample(op: OpRecord) -> Measures:
        out = op.outputs[0].numel
        return Measures(elementwise=taps * out, formula=f"{taps}·{out}" if taps else "")

    return count_resample


def count_grid_sample(op: OpRecord) -> Measures:
    """Grid sampling: its taps depend on the interpolation mode it was given."""
    return resampling(_GRID_TAPS.get(op.get("interpolation_mode", 0), 4))(op)


# ---------------------------------------------------------------------------------------------
# Everything else: data movement (free), elementwise (one per output element)
# ---------------------------------------------------------------------------------------------


def count_nothing(op: OpRecord) -> Measures:
    """Views, copies, padding and factories: data movement, no arithmetic."""
    return Measures()


def count_per_output_element(op: OpRecord) -> Measures:
    """An elementwise op: one operation per element of its largest output."""
    return Measures(elementwise=max((o.numel for o in op.outputs), default=0))


def count_fold(op: OpRecord) -> Measures:
    """Folding patches back adds every patch element into its place: one addition per input element."""
    return Measures(elementwise=op.tensor("self").numel)


# ---------------------------------------------------------------------------------------------
# Bytes moved
# ---------------------------------------------------------------------------------------------


def count_bytes(op: OpRecord) -> int:
    """Bytes an op reads and writes: each tensor it reads once, each it writes once, at its dtype's size.

    A tensor read twice (``x * x``) is one read; an in-place op reads its tensor and writes it back.
    """
    return _distinct_bytes(op.input_tensors()) + _distinct_bytes(op.outputs)


def count_no_bytes(op: OpRecord) -> int:
    """A view: a new shape over the same storage, no data read or written."""
    return 0


def _distinct_bytes(tensors: Iterable[TensorMeta]) -> int:
    """Bytes of ``tensors``, each data-flow value once (a tensor without one, each time it appears)."""
    seen: set[int] = set()
    total = 0
    for tensor in tensors:
        if tensor.value is not None and tensor.value in seen:
            continue
        if tensor.value is not None:
            seen.add(tensor.value)
        total += tensor.nbytes
    return total


def count_batch_norm_bytes(op: OpRecord) -> int:
    """Batch norm writes its statistics only when it computes them: in eval its kernels return them empty (meta sizes them)."""
    written = op.outputs if op.get("training", False) else op.outputs[:1]
    return _distinct_bytes(op.input_tensors()) + _distinct_bytes(written)
