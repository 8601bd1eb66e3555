"""thop: forward hooks on the module types it has a rule for; parameters counted by the same hooks."""

from __future__ import annotations

from collections import defaultdict

from .ledger import (
    ADAPTIVE_AVG_POOLS,
    AVG_POOLS,
    BATCH_NORMS,
    MAX_POOLS,
    Ledger,
    Peer,
    Result,
    Row,
    Term,
    inputs,
    numel,
    of_type,
    outputs,
)

# thop's register_hooks (thop/profile.py): modules it has a rule for; the parameters of any other module are not counted.
RULES = {
    "ZeroPad2d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", *BATCH_NORMS,
    "LayerNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "PReLU", "Softmax", "ReLU", "ReLU6", "LeakyReLU",
    *MAX_POOLS, "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", *AVG_POOLS, *ADAPTIVE_AVG_POOLS,
    "Linear", "Dropout", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d", "RNNCell", "GRUCell", "LSTMCell",
    "RNN", "GRU", "LSTM", "Sequential", "PixelShuffle", "SyncBatchNorm",
}  # fmt: skip


def run(model, shape: tuple[int, ...], x) -> Result:
    from thop import clever_format, profile

    macs, params = profile(model, inputs=(x,), verbose=False)
    return {"params": int(params), "figures": {"MACs": int(macs)}, "printed": {"MACs": clever_format(macs, "%.3f")}}


def _adaptive(row: Row) -> int:
    return int((numel(row.input_shape[2:]) / numel(row.output_shape[2:]) + 1) * outputs(row))


MACS = {
    "BN×4": Term("batch-norm elements × 4 (calculate_norm gives 2 per element, count_normalization doubles it for affine)",
                 of_type(BATCH_NORMS, lambda row: 4 * inputs(row))),
    "adaptive": Term("adaptive average pooling: (in/out window + 1) per output element (count_adap_avgpool)",
                     of_type(ADAPTIVE_AVG_POOLS, _adaptive)),
    "avgpool": Term("average pooling: 1 per output element (count_avgpool)", of_type(AVG_POOLS, outputs)),
}  # fmt: skip


def params_left_out(rows: list[Row]) -> list[tuple[str, int]]:
    """Parameters thop leaves out: modules it has no rule for, and modules that never ran (its count is a forward hook)."""
    missing: dict[str, int] = defaultdict(int)
    for row in rows:
        if not row.params:
            continue
        if row.output_shape is None:
            missing["never called"] -= row.params
        elif row.is_module and row.type not in RULES:
            missing[f"no rule for {row.type}"] -= row.params
    return list(missing.items())


PEER = Peer("thop", "thop", run, (Ledger("thop", "MACs", MACS),), params_terms=params_left_out)


def probes() -> list[list[str]]:
    """Batch norm at 4 per element."""
    import torch
    from thop import profile
    from torch import nn

    macs, _ = profile(nn.BatchNorm2d(1).eval(), inputs=(torch.rand(1, 1, 1, 10),), verbose=False)
    return [["thop", "nn.BatchNorm2d(1) on 10 elements", f"{int(macs)} MACs",
             "4 per element: calculate_norm gives 2 per element, then ×2 again for the affine scale and shift"]]  # fmt: skip
