"""The references cnnstat is checked against: fvcore, torch itself, torchvision's metadata, the papers."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..counting.inputs import InputSpec, meta_inputs, resolve_dtype
from ..counting.report import Report
from ..counting.trace import trace
from ..zoo import ModelEntry, PublishedFigure, torchvision_figures
from .comparison import AGREES, MISMATCH, NOT_COUNTED, TOTAL, Comparison
from .ledgers import FLOP_REFERENCES, flop_comparisons, ledgers


def real_inputs(specs: list[InputSpec], batch: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Random CPU tensors of the specs' shapes: normal floats, zero integers (valid token ids and indices)."""

    def tensor(spec: InputSpec) -> torch.Tensor:
        dtype = resolve_dtype(spec.dtype) if spec.dtype else torch.float32
        shape = (batch, *spec.shape)
        return torch.randn(shape, dtype=dtype) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)

    return tuple(tensor(s) for s in specs if s.name is None), {s.name: tensor(s) for s in specs if s.name is not None}


def check_fvcore(real: nn.Module, report: Report, specs: list[InputSpec]) -> list[Comparison]:
    """fvcore's by_module() on the real model beside cnnstat's fvcore base, per module."""
    args, kwargs = real_inputs(specs, report.input_shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's use of torch.jit is deprecated, not ours
        from fvcore.nn import FlopCountAnalysis

        inputs = args if not kwargs else (*args, kwargs)
        analysis = FlopCountAnalysis(real, inputs if len(inputs) != 1 else inputs[0])
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        theirs = {name: int(value) for name, value in analysis.by_module().items()}
        unsupported = analysis.unsupported_ops()
    comparisons = list(flop_comparisons("fvcore", ledgers(report, FLOP_REFERENCES["fvcore"]), theirs))
    for op, calls in sorted(unsupported.items()):
        comparisons.append(Comparison("fvcore", "unsupported op", op, "", calls, NOT_COUNTED))
    return comparisons


def check_torch(meta: nn.Module, report: Report, real: nn.Module, specs: list[InputSpec]) -> list[Comparison]:
    """FlopCounterMode per module (on meta, as stated), parameter count, and shapes from a real forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    args, kwargs = meta_inputs(specs, report.input_shape[0])
    with counter, torch.no_grad():
        meta(*args, **kwargs)
    root = type(meta).__name__
    theirs = {}
    for key, per_op in counter.get_flop_counts().items():
        if key == "Global":
            continue
        theirs["" if key == root else key.removeprefix(root + ".")] = int(sum(per_op.values()))
    comparisons = list(flop_comparisons("torch", ledgers(report, FLOP_REFERENCES["torch"]), theirs))
    params = sum(p.numel() for p in real.parameters())
    ours = report.totals["params"]
    comparisons.append(Comparison("torch", "params", TOTAL, ours, params, AGREES if ours == params else MISMATCH))
    comparisons.extend(_shape_comparisons(meta, real, specs))
    return comparisons


def _shape_comparisons(meta: nn.Module, real: nn.Module, specs: list[InputSpec]) -> Iterable[Comparison]:
    """Output shape of every leaf module call: cnnstat's meta trace beside a real forward pass of two samples."""
    names = {m: n for n, m in real.named_modules()}
    seen: list[tuple[str, tuple[int, ...]]] = []

    def record(module: nn.Module, _: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            seen.append((names[module], tuple(output.shape)))

    hooks = [m.register_forward_hook(record) for m in names if not list(m.children())]
    args, kwargs = real_inputs(specs, 2)
    try:
        with torch.no_grad():
            real(*args, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    meta_args, meta_kwargs = meta_inputs(specs, 2)
    traced = [
        (layer.module_name, layer.output_shape)
        for layer in trace(meta, meta_args, meta_kwargs).layers
        if layer.is_module and layer.inputs
    ]
    for index, (name, shape) in enumerate(seen):
        ours = traced[index] if index < len(traced) else ("", None)
        verdict = AGREES if ours == (name, shape) else MISMATCH
        yield Comparison("torch", "output shape", name or TOTAL, _shape(ours[1]), _shape(shape), verdict)
    if len(traced) != len(seen):
        yield Comparison("torch", "layer calls", TOTAL, len(traced), len(seen), MISMATCH)


def _shape(shape: tuple[int, ...] | None) -> str:
    return "×".join(map(str, shape)) if shape else "—"


def _published(reference: str, figure: PublishedFigure, ours: int) -> Comparison:
    """A count beside a printed figure, at the precision printed: exact figures as numbers, rounded ones as printed."""
    verdict = AGREES if figure.agrees(ours) else MISMATCH
    quantity = figure.quantity.replace("_", " ")
    if figure.exact:
        return Comparison(reference, quantity, figure.layer or TOTAL, ours, int(figure.value), verdict)
    return Comparison(reference, f"{quantity} (as printed)", figure.layer or TOTAL, figure.rounded(ours), figure.printed, verdict)


def check_torchvision(torchvision_name: str | None, report: Report) -> list[Comparison]:
    """torchvision's published num_params and _ops (GFLOPS, its MACs, to 3 decimals) for its weights."""
    figures = torchvision_figures(torchvision_name) if torchvision_name else None
    if figures is None:
        return []
    comparisons = [_published("torchvision", figures.num_params, report.totals["params"])]
    same_input = [meta.shape[1:] for _, meta in report.inputs] == [spec.shape for spec in figures.inputs]
    if figures.gflops is not None and same_input and report.input_shape[0] == 1:
        comparisons.append(_published("torchvision", figures.gflops, report.totals["macs"]))
    return comparisons


def check_paper(entry: ModelEntry | None, report: Report) -> list[Comparison]:
    """Every figure a zoo entry's source printed, layer by layer and in total, at the precision printed."""
    if entry is None or not entry.published or tuple(report.input_shape[1:]) != entry.input_size or report.input_shape[0] != 1:
        return []
    rows = {layer.name: layer for layer in report.layers}
    totals = report.totals
    comparisons = []
    for figure in entry.published:
        if figure.layer and figure.layer not in rows:
            comparisons.append(Comparison("paper", "layer", figure.layer, "missing", "present", MISMATCH))
            continue
        ours = getattr(rows[figure.layer], figure.quantity) if figure.layer else totals[figure.quantity]
        comparisons.append(_published("paper", figure, ours))
    return comparisons
