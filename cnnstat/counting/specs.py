"""Op specs: everything cnnstat knows about a family of aten ops, registered once.

A spec names its aten ops and says what kind of op they are, how they are counted (a counter from
``ops.py``), how a footprint passes through them (a rule from ``receptive_field.py``), and how
fvcore treats them (its handle, if it has one, and which argument holds a bias fvcore and
FlopCounterMode leave out). Every measure asks :func:`spec_for`; an op without a spec is unknown to
all of them alike: uncounted, its receptive field unknown, nothing under fvcore.

Torch tags most elementwise ops (``relu``, ``add``) ``pointwise`` and marks views on the op itself;
:func:`spec_for` gives those records a generic spec, so the tables here list only the ops torch
does not describe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from . import ops
from . import receptive_field as rf
from .measures import Measures
from .records import OpRecord
from .registry import Registry

FvcoreHandle = Callable[[OpRecord, Measures], int]


class OpKind(Enum):
    """What an op family does, for callers that ask "is it a convolution?" rather than spell names."""

    CONVOLUTION = "convolution"
    MATRIX_PRODUCT = "matrix product"
    ATTENTION = "attention"
    POOLING = "pooling"
    REDUCTION = "reduction"
    NORMALISATION = "normalisation"
    SOFTMAX = "softmax"
    RESAMPLING = "resampling"
    ELEMENTWISE = "elementwise"
    VIEW = "view"
    DATA_MOVEMENT = "data movement"
    FACTORY = "factory"


@dataclass(frozen=True)
class OpSpec:
    """One op family: its aten names, its kind, its counter, its receptive-field rule and fvcore's treatment."""

    names: tuple[str, ...]
    kind: OpKind
    count: ops.OpCounter
    footprint: rf.Rule
    fvcore: FvcoreHandle | None = None  # fvcore's default handle; None: fvcore counts nothing for it
    bias: str | None = None  # the argument holding a bias added per output element, which fvcore and torch skip
    moves: ops.ByteCounter = ops.count_bytes  # the bytes it reads and writes; views move none


SPECS: Registry[str, OpSpec] = Registry("op spec")


def register(spec: OpSpec) -> OpSpec:
    """Register ``spec`` under each of its names; a name already taken raises :class:`DuplicateNameError`."""
    for name in spec.names:
        SPECS.register(name, spec)
    return spec


def spec_of(op_name: str) -> OpSpec | None:
    """The spec registered under an aten op's name (its overload packet: ``convolution``, ``addmm``)."""
    return SPECS.get(op_name)


NO_BYTES = ops.count_no_bytes
_POINTWISE = OpSpec((), OpKind.ELEMENTWISE, ops.count_per_output_element, rf.elementwise)
_VIEW = OpSpec((), OpKind.VIEW, ops.count_nothing, rf.unfollowed("is a view with no receptive-field rule"), moves=NO_BYTES)


def spec_for(op: OpRecord) -> OpSpec | None:
    """The spec of a recorded op: its registered spec, else a generic one for an op torch tags pointwise or marks a view."""
    spec = spec_of(op.op)
    if spec is not None:
        return spec
    if op.is_view:
        return _VIEW
    return _POINTWISE if op.pointwise else None


def count_op(op: OpRecord) -> Measures:
    """The measures of one aten op, as its spec counts them; an op without a spec is uncounted."""
    spec = spec_for(op)
    return replace(spec.count(op), bytes=spec.moves(op)) if spec is not None else Measures(uncounted=(op.op,))


def footprint_rule(op: OpRecord) -> rf.Rule:
    """How a footprint passes through ``op``: its spec's rule; an op without a spec makes it unknown."""
    spec = spec_for(op)
    return spec.footprint if spec is not None else rf.unfollowed("has no receptive-field rule")


# -- how fvcore counts: its default handles (fvcore/nn/jit_handles.py) --------------------------------


def _products(op: OpRecord, measures: Measures) -> int:
    return measures.macs


def _products_unless_in_attention(op: OpRecord, measures: Measures) -> int:
    # fvcore has no handle for scaled_dot_product_attention: the products inside it go uncounted
    return 0 if op.call == "scaled_dot_product_attention" else measures.macs


def _batch_norm(op: OpRecord, measures: Measures) -> int:
    affine = op.optional_tensor("weight") is not None
    if op.get("training", False):
        return op.tensor("input").numel * (5 if affine else 4)
    return op.tensor("input").numel * (2 if affine else 1)


def _layer_or_group_norm(op: OpRecord, measures: Measures) -> int:
    return op.tensor("input").numel * (5 if op.optional_tensor("weight") is not None else 4)


def _adaptive_average(op: OpRecord, measures: Measures) -> int:
    # fvcore's handle for aten::adaptive_avg_pool2d counts one flop per input element
    return op.tensor("self").numel if op.call == "adaptive_avg_pool2d" else 0


def _per_output(scale: int) -> FvcoreHandle:
    return lambda op, measures: scale * op.outputs[0].numel


# -- the specs ---------------------------------------------------------------------------------------

K = OpKind
register(OpSpec(("convolution", "_convolution"), K.CONVOLUTION, ops.count_convolution, rf.convolution, _products, "bias"))
register(OpSpec(("addmm",), K.MATRIX_PRODUCT, ops.count_addmm, rf.matrix_product("mat1", "mat2", "self"),
                _products_unless_in_attention, "self"))  # fmt: skip
register(OpSpec(("baddbmm",), K.MATRIX_PRODUCT, ops.count_baddbmm, rf.matrix_product("batch1", "batch2", "self"),
                _products_unless_in_attention, "self"))  # fmt: skip
register(OpSpec(("mm", "bmm"), K.MATRIX_PRODUCT, ops.count_mm, rf.matrix_product("self", "mat2", None),
                _products_unless_in_attention))  # fmt: skip
register(OpSpec(
    ("_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention",
     "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_flash_attention_for_cpu"),
    K.ATTENTION, ops.count_fused_attention, rf.attention,
))  # fmt: skip

register(OpSpec(("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices"),
                K.POOLING, ops.count_max_pool, rf.pooling))  # fmt: skip
register(OpSpec(("avg_pool1d", "avg_pool2d", "avg_pool3d"), K.POOLING, ops.count_avg_pool, rf.pooling))
register(OpSpec(("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                 "adaptive_max_pool3d"), K.POOLING, ops.count_adaptive_pool, rf.adaptive_pooling, _adaptive_average))  # fmt: skip

# torch lowers a global adaptive average pool to a mean, which fvcore's adaptive_avg_pool2d handle counts
register(OpSpec(("mean",), K.REDUCTION, ops.count_mean, rf.reduction, _adaptive_average))
register(OpSpec(("sum", "amax", "amin", "prod", "var", "std", "var_mean", "std_mean", "max", "min", "argmax", "argmin",
                 "logsumexp", "norm", "linalg_vector_norm", "all", "any"), K.REDUCTION, ops.count_reduction, rf.reduction))  # fmt: skip

register(OpSpec(("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training"),
                K.NORMALISATION, ops.count_batch_norm, rf.batch_norm, _batch_norm, moves=ops.count_batch_norm_bytes))  # fmt: skip
register(OpSpec(("native_layer_norm",), K.NORMALISATION, ops.count_layer_norm, rf.layer_norm, _layer_or_group_norm))
register(OpSpec(("native_group_norm",), K.NORMALISATION, ops.count_layer_norm, rf.group_norm, _layer_or_group_norm))
register(OpSpec(("_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax"), K.SOFTMAX, ops.count_softmax,
                rf.softmax))  # fmt: skip

# resampling: the counter's taps per output element, the rule's taps per axis
register(OpSpec(("upsample_nearest2d",), K.RESAMPLING, ops.resampling(0), rf.resampling(1), _per_output(1)))
register(OpSpec(("upsample_nearest1d", "upsample_nearest3d", "_upsample_nearest_exact1d", "_upsample_nearest_exact2d",
                 "_upsample_nearest_exact3d"), K.RESAMPLING, ops.resampling(0), rf.resampling(1)))  # fmt: skip
register(OpSpec(("upsample_linear1d",), K.RESAMPLING, ops.resampling(2), rf.resampling(2)))
register(OpSpec(("upsample_bilinear2d",), K.RESAMPLING, ops.resampling(4), rf.resampling(2), _per_output(4)))
register(OpSpec(("_upsample_bilinear2d_aa",), K.RESAMPLING, ops.resampling(4), rf.resampling(2)))
register(OpSpec(("upsample_trilinear3d",), K.RESAMPLING, ops.resampling(8), rf.resampling(2)))
register(OpSpec(("upsample_bicubic2d", "_upsample_bicubic2d_aa"), K.RESAMPLING, ops.resampling(16), rf.resampling(4)))
register(OpSpec(("grid_sampler_2d",), K.RESAMPLING, ops.count_grid_sample,
                rf.unfollowed("reads the positions a grid tensor holds"), _per_output(4)))  # fvcore assumes bilinear  # fmt: skip

# elementwise activations that carry no pointwise tag in torch
register(OpSpec(("hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "mish", "mish_",
                 "softplus", "elu", "elu_", "leaky_relu", "leaky_relu_", "_prelu_kernel", "rrelu_with_noise", "silu",
                 "silu_", "gelu", "gelu_", "relu6", "threshold", "threshold_"),
                K.ELEMENTWISE, ops.count_per_output_element, rf.elementwise))  # fmt: skip
register(OpSpec(("glu",), K.ELEMENTWISE, ops.count_per_output_element, rf.halves))
register(OpSpec(("tril", "triu"), K.DATA_MOVEMENT, ops.count_nothing, rf.elementwise))  # keeps or zeroes each element

# views and copies a footprint follows
register(OpSpec(("view", "_unsafe_view", "reshape", "_reshape_alias", "unsqueeze", "squeeze", "flatten", "unflatten",
                 "unsqueeze_", "squeeze_"), K.VIEW, ops.count_nothing, rf.reshaping, moves=NO_BYTES))  # fmt: skip
register(OpSpec(("alias", "detach", "detach_", "lift_fresh"), K.VIEW, ops.count_nothing, rf.identity, moves=NO_BYTES))
register(OpSpec(("clone", "contiguous", "_to_copy", "native_dropout", "dropout"), K.DATA_MOVEMENT, ops.count_nothing,
                rf.identity))  # fmt: skip
register(OpSpec(("copy_",), K.DATA_MOVEMENT, ops.count_nothing, rf.copy))
register(OpSpec(("expand",), K.VIEW, ops.count_nothing, rf.expanding, moves=NO_BYTES))
register(OpSpec(("expand_copy",), K.VIEW, ops.count_nothing, rf.expanding))  # a copy: it writes what it expands
register(OpSpec(("permute", "transpose", "t", "swapaxes", "transpose_", "t_"), K.VIEW, ops.count_nothing, rf.permuting,
                moves=NO_BYTES))  # fmt: skip
register(OpSpec(("slice", "select", "narrow"), K.VIEW, ops.count_nothing, rf.slicing, moves=NO_BYTES))
register(OpSpec(("split", "split_with_sizes", "unbind", "chunk", "unsafe_split", "unsafe_chunk"),
                K.VIEW, ops.count_nothing, rf.splitting, moves=NO_BYTES))  # fmt: skip
register(OpSpec(("split_with_sizes_copy",), K.VIEW, ops.count_nothing, rf.splitting))  # a copy: it writes its parts
register(OpSpec(("cat",), K.DATA_MOVEMENT, ops.count_nothing, rf.concatenation))
register(OpSpec(("stack",), K.DATA_MOVEMENT, ops.count_nothing, rf.stacking))
register(OpSpec(("constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
                 "replication_pad2d", "replication_pad3d"), K.DATA_MOVEMENT, ops.count_nothing, rf.padding))  # fmt: skip
register(OpSpec(("channel_shuffle",), K.DATA_MOVEMENT, ops.count_nothing, rf.along_channels))

# data movement a footprint cannot follow: positions chosen by values, mirrored, wrapped or re-tiled
for names, why in (
    (("index", "index_select", "gather", "scatter", "index_put", "index_put_", "_unsafe_index", "masked_select",
      "nonzero", "embedding"), "reads positions that tensor values choose"),
    (("slice_scatter", "select_scatter", "as_strided_", "resize_", "set_"), "writes into a tensor in place"),
    (("roll", "flip", "repeat", "pixel_shuffle", "pixel_unshuffle", "im2col"), "moves positions along an axis"),
):  # fmt: skip
    register(OpSpec(names, K.DATA_MOVEMENT, ops.count_nothing, rf.unfollowed(why)))
register(OpSpec(("col2im",), K.DATA_MOVEMENT, ops.count_fold, rf.unfollowed("folds patches back onto the image")))

# factories and fills: what they make depends on no pixel of the input
register(OpSpec(("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "new_zeros", "new_ones",
                 "new_full", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "fill_", "zero_",
                 "scalar_tensor", "arange", "linspace", "randint", "rand", "randn", "randperm", "bernoulli_", "uniform_",
                 "normal_", "_local_scalar_dense"), K.FACTORY, ops.count_nothing, rf.constant))  # fmt: skip
