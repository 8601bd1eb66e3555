"""Counting a module you hold: inputs to meta tensors, one trace, one report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from torch import nn

from .conventions import DEFAULT_CONVENTION, get_convention
from .inputs import InputSpec, meta_data, meta_inputs
from .memory import DEFAULT_OPTIMIZER, check_optimizer
from .report import Report, count_trace
from .trace import trace


def analyze_module(
    module: nn.Module,
    inputs: Sequence[InputSpec] = (),
    *,
    input_data: Any = None,
    batch: int = 1,
    name: str | None = None,
    convention: str = DEFAULT_CONVENTION,
    optimizer: str = DEFAULT_OPTIMIZER,
    train: bool = False,
    notes: Sequence[str] = (),
) -> Report:
    """Trace and count ``module`` on meta inputs built from ``inputs`` (batch first) or copied from ``input_data``.

    The module is not changed: its parameters and buffers are replaced by meta stand-ins for the
    trace, and its train/eval flags and hooks are as they were afterwards. ``notes`` (what the
    count covers) are carried into the report.
    """
    get_convention(convention)  # an unknown name fails before any work
    check_optimizer(optimizer)
    args, kwargs = meta_data(input_data) if input_data is not None else meta_inputs(inputs, batch)
    traced = trace(module, args, kwargs, train=train)
    report = count_trace(traced, name=name or type(module).__name__, convention=convention, optimizer=optimizer)
    return replace(report, notes=(*notes, *report.notes)) if notes else report
