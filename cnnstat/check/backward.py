"""cnnstat's backward MACs beside FlopCounterMode around a real backward pass, run on meta."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from ..counting.inputs import InputSpec, meta_inputs
from ..counting.report import Report
from ..counting.specs import OpKind, spec_for
from .comparison import AGREES, EXPLAINED, MISMATCH, TOTAL, Comparison

GROUPED_RULE = "FlopCounterMode counts a grouped convolution's weight gradient `groups` times over"


def _flops(meta: nn.Module, specs: list[InputSpec], batch: int, backward: bool) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    args, kwargs = meta_inputs(specs, batch)
    counter = FlopCounterMode(display=False)
    with counter, torch.enable_grad():
        outputs = [t for t in tree_flatten(meta(*args, **kwargs))[0] if isinstance(t, torch.Tensor) and t.requires_grad]
        if backward and outputs:
            sum(t.float().sum() for t in outputs).backward()
    return counter.get_total_flops()


def grouped_weight_gradient_surplus(report: Report) -> int:
    """What FlopCounterMode adds: a grouped convolution's weight gradient counted ``groups`` times, not once."""
    surplus = 0
    for layer in report.layers:
        for op in layer.ops:
            convolution = (spec := spec_for(op.record)) is not None and spec.kind is OpKind.CONVOLUTION
            if convolution and op.record["groups"] > 1 and op.record.tensor("weight").requires_grad:
                surplus += (op.record["groups"] - 1) * op.measures.macs
    return surplus


def check_torch_backward(meta: nn.Module, report: Report, specs: list[InputSpec]) -> list[Comparison]:
    """(FlopCounterMode of forward and backward − of the forward) / 2, beside the backward MACs cnnstat counts."""
    if any(note.startswith("no backward figures") for note in report.notes):
        return []
    batch = report.input_shape[0] if report.input_shape else 1
    theirs = (_flops(meta, specs, batch, backward=True) - _flops(meta, specs, batch, backward=False)) // 2
    ours = report.totals["backward_macs"]
    surplus = grouped_weight_gradient_surplus(report)
    if ours == theirs:
        return [Comparison("torch", "backward macs", TOTAL, ours, theirs, AGREES)]
    verdict = EXPLAINED if surplus and ours + surplus == theirs else MISMATCH
    return [Comparison("torch", "backward macs", TOTAL, ours, theirs, verdict, ((GROUPED_RULE, surplus),) if surplus else ())]
