"""torchscan: MACs and module-formula FLOPs from module hooks, operator FLOPs from torch's FlopCounterMode."""

from __future__ import annotations

from .ledger import (
    ADAPTIVE_AVG_POOLS,
    BATCH_NORMS,
    MAX_POOLS,
    WEIGHTED,
    Ledger,
    Peer,
    Result,
    Row,
    Term,
    adaptive_window,
    bias_adds,
    inputs,
    numel,
    of_type,
    outputs,
    pool_kernel,
)


def run(model, shape: tuple[int, ...], x) -> Result:
    from torchscan import crawl_module
    from torchscan.utils import format_info

    report = crawl_module(model, shape)
    totals = report["totals"]

    def value(key: str) -> int:
        result = totals[key]
        return int(result["value"] if result["value"] is not None else result["known_value"])

    lines = format_info(report).splitlines()

    def printed(prefix: str) -> str:
        return next(s for s in lines if s.startswith(prefix))

    return {
        "params": value("parameters"),
        "figures": {"MACs": value("macs"), "FLOPs": value("module_flops"), "operator FLOPs": value("operator_flops")},
        "printed": {
            "MACs": printed("Multiply-Accumulations"),
            "FLOPs": printed("Module-formula forward FLOPs"),
            "operator FLOPs": printed("Operator forward FLOPs"),
        },
        "notes": sorted({d["message"] for d in report["diagnostics"]}),
        "receptive_field": [
            [layer["path"], layer["type"], layer["metrics"].get("receptive_field", {}).get("value")] for layer in report["layers"]
        ],
    }


def _max_pool(row: Row) -> int:
    return outputs(row) * (pool_kernel(row)[0] - 1)


def _adaptive(row: Row) -> int:
    window = adaptive_window(row)
    return outputs(row) * (numel(window) - 1 + len(window))


MAX_POOL = Term("max pooling: (k − 1) per output with k the int kernel_size (3 for 3×3, 2 for 2×2), not k² − 1",
                of_type(MAX_POOLS, _max_pool))  # fmt: skip
ADAPTIVE = Term("adaptive average pooling: (window − 1 + 2) per output element", of_type(ADAPTIVE_AVG_POOLS, _adaptive))
TWICE = Term("one more cnnstat MAC count: 2 per MAC", lambda row: row.macs)

MACS = {
    "BN×2": Term("batch-norm elements × 2 (macs_bn, affine)", of_type(BATCH_NORMS, lambda row: 2 * inputs(row))),
    "maxpool": MAX_POOL,
    "adaptive": ADAPTIVE,
}
FLOPS = {
    "×2": TWICE,
    "no-bias": Term("convolutions and linear layers without bias: 2·terms − 1 per output, one addition fewer than 2 per MAC",
                    of_type(WEIGHTED, lambda row: bias_adds(row) - outputs(row))),
    "ReLU": Term("nn.ReLU input elements", of_type("ReLU", inputs)),
    "sigmoid": Term("nn.Sigmoid input elements × 4", of_type("Sigmoid", lambda row: 4 * inputs(row))),
    "BN": Term("batch norm: 4 per element + 2 per channel (flops_bn, affine)",
               of_type(BATCH_NORMS, lambda row: 4 * inputs(row) + 2 * row.output_shape[1])),
    "maxpool": MAX_POOL,
    "adaptive": ADAPTIVE,
    "dropout": Term("nn.Dropout input elements, counted although dropout is the identity in eval mode", of_type("Dropout", inputs)),
}  # fmt: skip
OPERATOR_FLOPS = {"×2": Term("torch's FlopCounterMode: 2 per MAC of convolutions and matrix products, nothing else", TWICE.count)}

PEER = Peer(
    "torchscan",
    "torchscan",
    run,
    (
        Ledger("torchscan MACs", "MACs", MACS),
        Ledger("torchscan FLOPs", "FLOPs", FLOPS),
        Ledger("torchscan operator FLOPs", "operator FLOPs", OPERATOR_FLOPS),
    ),
    two_per_mac=frozenset({"FLOPs", "operator FLOPs"}),
)


def probes() -> list[list[str]]:
    """An int kernel_size read as k taps, not k²; dropout counted in eval mode."""
    from torch import nn
    from torchscan import crawl_module

    def macs(module: nn.Module, shape: tuple[int, ...]) -> int:
        return int(crawl_module(module, shape)["totals"]["macs"]["value"])

    as_int, as_tuple = macs(nn.MaxPool2d(3), (1, 9, 9)), macs(nn.MaxPool2d((3, 3)), (1, 9, 9))
    flops = int(crawl_module(nn.Sequential(nn.Dropout(0.5)), (10,))["totals"]["module_flops"]["value"])
    return [
        ["torchscan", "nn.MaxPool2d(3) vs nn.MaxPool2d((3, 3)), 9 outputs", f"{as_int} vs {as_tuple} MACs",
         "the same 3×3 pooling: an int kernel_size is read as 3 taps (2 comparisons per output), a tuple as 9 (8)"],
        ["torchscan", "nn.Dropout(0.5) in eval mode on 10 elements", f"{flops} FLOPs",
         "dropout is the identity in eval mode, but flops_dropout counts one per element whenever p > 0"],
    ]  # fmt: skip
