"""ptflops, with its default pytorch backend (module hooks and patched functionals) and its aten backend."""

from __future__ import annotations

import contextlib
import io

from .ledger import (
    ADAPTIVE_AVG_POOLS,
    AVG_POOLS,
    BATCH_NORMS,
    MAX_POOLS,
    WEIGHTED,
    Ledger,
    Peer,
    Result,
    Row,
    Term,
    bias_adds,
    first_tensor,
    inputs,
    numel,
    of_type,
    outputs,
)

# ptflops (pytorch backend) patches these torch.nn.functional calls; nn.ReLU, nn.MaxPool2d, ... call them in forward.
FUNCTIONAL = {
    "relu", "prelu", "elu", "relu6", "gelu", "silu", "softmax", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
}  # fmt: skip
MODULE_POOLS = (*MAX_POOLS, *AVG_POOLS, *ADAPTIVE_AVG_POOLS)


def _run(backend: str):
    def run(model, shape: tuple[int, ...], x) -> Result:
        from ptflops import get_model_complexity_info
        from ptflops.utils import flops_to_string

        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            macs, params = get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False, backend=backend, ost=quiet
            )
        if macs is None:
            raise RuntimeError("ptflops returned no figure: " + quiet.getvalue()[-400:])
        return {"params": int(params), "figures": {"MACs": int(macs)}, "printed": {"MACs": flops_to_string(macs)}}

    return run


def _hooked(row: Row) -> bool:
    """Whether the row is a module ptflops hooks, so that the functional it calls is counted a second time."""
    return row.is_module and (row.type == "ReLU" or row.type in MODULE_POOLS)


def _functional(row: Row) -> int:
    return sum(numel(first_tensor(op)) for op in row.ops if op.record.call in FUNCTIONAL)


PYTORCH = {
    "bias": Term("bias additions of convolutions and linear layers, 1 per output element",
                 lambda row: bias_adds(row) if row.is_module and row.type in WEIGHTED else 0),
    "BN×2": Term("batch-norm elements × 2 (bn_flops_counter_hook, affine)", of_type(BATCH_NORMS, lambda row: 2 * inputs(row))),
    "ReLU": Term("nn.ReLU output elements (relu_flops_counter_hook)", of_type("ReLU", outputs)),
    "pool": Term("input elements of nn.MaxPool2d / nn.AdaptiveAvgPool2d (pool_flops_counter_hook)", of_type(MODULE_POOLS, inputs)),
    "again": Term("the same ReLU and pooling elements a second time: ptflops also patches F.relu, F.max_pool2d, "
                  "F.adaptive_avg_pool2d, which those modules' forward calls", lambda row: _functional(row) if _hooked(row) else 0),
    "F.call": Term("input elements of F.relu / F.avg_pool2d called directly (GoogLeNet's BasicConv2d, LeNet's subsampling)",
                   lambda row: 0 if _hooked(row) else _functional(row)),
}  # fmt: skip
ATEN = {
    "bias": Term("bias additions of convolutions and linear layers, 1 per output element (conv_flop_count, addmm_flop)", bias_adds),
}

PEERS = (
    Peer("ptflops", "ptflops", _run("pytorch"), (Ledger("ptflops", "MACs", PYTORCH),)),
    Peer("ptflops-aten", "ptflops", _run("aten"), (Ledger("ptflops-aten", "MACs", ATEN),)),
)


def probes() -> list[list[str]]:
    """ReLU counted twice; torch.add counted, the + operator not."""
    import torch
    from ptflops import get_model_complexity_info
    from torch import nn

    rows = []
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            both, _ = get_model_complexity_info(
                nn.Sequential(nn.ReLU()), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
            hooks, _ = get_model_complexity_info(
                nn.Sequential(nn.ReLU()), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch",
                backend_specific_config={"count_functional": False},
            )  # fmt: skip
        rows.append(["ptflops", "nn.ReLU() on 10 elements", f"{both} MACs",
                     f"{hooks} with count_functional=False: the module hook and the F.relu patch each count the 10 elements"])  # fmt: skip
    except Exception as error:  # a probe that fails is reported, not fatal
        rows.append(["ptflops", "nn.ReLU() on 10 elements", "failed", repr(error)])
    try:

        class Called(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.add(x, x)

        class Operator(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = x.clone()
                x += x  # ResNet's residual addition is written this way
                return x + x

        with contextlib.redirect_stdout(quiet):
            called, _ = get_model_complexity_info(Called(), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch")
            written, _ = get_model_complexity_info(Operator(), (10,), as_strings=False, print_per_layer_stat=False, backend="pytorch")
        rows.append(["ptflops", "10 elements: torch.add(x, x) vs x += x then x + x", f"{called} vs {written} MACs",
                     "it patches torch.add and Tensor.add, not the + and += operators: two additions written as operators count 0"])  # fmt: skip
    except Exception as error:
        rows.append(["ptflops", "torch.add vs +", "failed", repr(error)])
    return rows
