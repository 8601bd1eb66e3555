"""``cnnstat check``: cnnstat's counts beside fvcore, torch, torchvision and the papers, module by module.

Each FLOP reference has a *base* count cnnstat computes for it and rules that name what the
reference leaves out (fvcore ignores bias, skips max pooling, …). A comparison agrees when base
equals the reference, is explained when base minus the rules' own counts equals it exactly, and is
a MISMATCH otherwise.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .analysis import Report, report_from_trace
from .counters import Counts, count_op
from .errors import CnnstatError
from .trace import OpRecord, Trace, trace
from .zoo import ResolvedModel, resolve_model, torchvision_figures

REFERENCES = ("fvcore", "torch", "torchvision", "paper")
AGREES, EXPLAINED, MISMATCH, NOT_COUNTED = "agrees", "explained", "MISMATCH", "not counted"
TOTAL = "(model)"
_BIAS_OPS = {"convolution", "_convolution", "addmm", "baddbmm"}


@dataclass(frozen=True)
class Comparison:
    """One figure of cnnstat set beside one reference's."""

    reference: str
    quantity: str
    layer: str
    ours: Any
    theirs: Any
    verdict: str
    rules: tuple[tuple[str, int], ...] = ()

    @property
    def explanation(self) -> str:
        return "\n".join(f"{rule} ({delta:+,})" for rule, delta in self.rules)


@dataclass
class ModelCheck:
    """Every comparison for one model at one input."""

    model: str
    input_shape: tuple[int, ...]
    report: Report
    comparisons: list[Comparison] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    @property
    def ok(self) -> bool:
        return self.count(MISMATCH) == 0

    def summary(self) -> str:
        state = "OK" if self.ok else "FAILED"
        line = (f"{self.model}: {state} — {len(self.comparisons):,} comparisons: {self.count(AGREES):,} agree, "
                f"{self.count(EXPLAINED):,} explained, {self.count(MISMATCH):,} mismatches")  # fmt: skip
        if self.count(NOT_COUNTED):
            line += f", {self.count(NOT_COUNTED):,} not counted by a reference"
        if self.unavailable:
            line += "; unavailable: " + ", ".join(f"{ref} ({why})" for ref, why in self.unavailable.items())
        return line


# ---------------------------------------------------------------------------------------------
# FLOP references: base count, and the rule naming each op's gap to the reference
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlopReference:
    name: str
    base: Callable[[Counts], int]
    mirror: Callable[[Counts], int]
    rule: Callable[[OpRecord, Counts], str]


def _fvcore_rule(op: OpRecord, counts: Counts) -> str:
    if op.op in _BIAS_OPS and counts.fvcore:
        return "fvcore ignores bias"
    if counts.fvcore == 0:
        return f"fvcore skips {op.call or op.op}"
    return f"fvcore's own estimate for {op.call or op.op}"


def _torch_rule(op: OpRecord, counts: Counts) -> str:
    if op.op in _BIAS_OPS and counts.macs:
        return "FlopCounterMode ignores bias"
    return f"FlopCounterMode skips {op.call or op.op}"


FLOP_REFERENCES = {
    "fvcore": FlopReference("fvcore", lambda c: c.macs + c.elementwise, lambda c: c.fvcore, _fvcore_rule),
    "torch": FlopReference("torch", lambda c: 2 * c.macs + c.elementwise, lambda c: 2 * c.macs, _torch_rule),
}


@dataclass
class _ModuleLedger:
    base: int = 0
    rules: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _ledgers(traced: Trace, reference: FlopReference) -> dict[str, _ModuleLedger]:
    """Per module (every ancestor too): the base count and each rule's share of the gap."""
    ledgers: dict[str, _ModuleLedger] = defaultdict(_ModuleLedger)
    for layer in traced.layers:
        parts = layer.module_name.split(".") if layer.module_name else []
        prefixes = [".".join(parts[:depth]) for depth in range(len(parts) + 1)]
        for op in layer.ops:
            counts = count_op(op)
            gap = reference.base(counts) - reference.mirror(counts)
            for prefix in prefixes:
                ledger = ledgers[prefix]
                ledger.base += reference.base(counts)
                if gap:
                    ledger.rules[reference.rule(op, counts)] += gap
    return ledgers


def _flop_comparisons(reference: str, ledgers: dict[str, _ModuleLedger], theirs: dict[str, int]) -> Iterable[Comparison]:
    for name, ledger in ledgers.items():
        value = theirs.get(name, 0)
        rules = tuple(sorted(((rule, -delta) for rule, delta in ledger.rules.items() if delta), key=lambda r: r[0]))
        if ledger.base == value:
            verdict, rules = AGREES, ()
        elif ledger.base + sum(delta for _, delta in rules) == value:
            verdict = EXPLAINED
        else:
            verdict = MISMATCH
        yield Comparison(reference, "flops", name or TOTAL, ledger.base, value, verdict, rules)


def check_fvcore(real: nn.Module, traced: Trace) -> list[Comparison]:
    """fvcore's by_module() on the real model beside cnnstat's fvcore base, per module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # fvcore's use of torch.jit is deprecated, not ours
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(real, torch.randn(traced.input_shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        theirs = {name: int(value) for name, value in analysis.by_module().items()}
    comparisons = list(_flop_comparisons("fvcore", _ledgers(traced, FLOP_REFERENCES["fvcore"]), theirs))
    for op, calls in sorted(analysis.unsupported_ops().items()):
        comparisons.append(Comparison("fvcore", "unsupported op", op, "", calls, NOT_COUNTED))
    return comparisons


def check_torch(
    meta: nn.Module, traced: Trace, report: Report, real: nn.Module, small_shape: tuple[int, ...]
) -> list[Comparison]:
    """FlopCounterMode per module (on meta), parameter count, and shapes from a real forward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(torch.zeros(traced.input_shape, device="meta"))
    root = type(meta).__name__
    theirs = {}
    for key, per_op in counter.get_flop_counts().items():
        if key == "Global":
            continue
        theirs["" if key == root else key.removeprefix(root + ".")] = int(sum(per_op.values()))
    comparisons = list(_flop_comparisons("torch", _ledgers(traced, FLOP_REFERENCES["torch"]), theirs))
    params = sum(p.numel() for p in real.parameters())
    ours = report.totals["params"]
    comparisons.append(Comparison("torch", "params", TOTAL, ours, params, AGREES if ours == params else MISMATCH))
    comparisons.extend(_shape_comparisons(meta, real, small_shape))
    return comparisons


def _shape_comparisons(meta: nn.Module, real: nn.Module, small_shape: tuple[int, ...]) -> Iterable[Comparison]:
    """Output shape of every leaf module call: cnnstat's meta trace beside a real forward pass."""
    names = {m: n for n, m in real.named_modules()}
    seen: list[tuple[str, tuple[int, ...]]] = []

    def record(module: nn.Module, _: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            seen.append((names[module], tuple(output.shape)))

    hooks = [m.register_forward_hook(record) for m in names if not list(m.children())]
    try:
        with torch.no_grad():
            real(torch.randn(small_shape))
    finally:
        for hook in hooks:
            hook.remove()
    traced = [
        (layer.module_name, layer.output_shape)
        for layer in trace(meta, small_shape).layers
        if layer.is_module and layer.input_shape is not None
    ]
    for index, (name, shape) in enumerate(seen):
        ours = traced[index] if index < len(traced) else ("", None)
        verdict = AGREES if ours == (name, shape) else MISMATCH
        yield Comparison("torch", "output shape", name or TOTAL, _fmt(ours[1]), _fmt(shape), verdict)
    if len(traced) != len(seen):
        yield Comparison("torch", "layer calls", TOTAL, len(traced), len(seen), MISMATCH)


def _fmt(shape: tuple[int, ...] | None) -> str:
    return "×".join(map(str, shape)) if shape else "—"


def check_torchvision(resolved: ResolvedModel, report: Report) -> list[Comparison]:
    """torchvision's published num_params and _ops (GMACs to 3 decimals) for its weights."""
    name = resolved.torchvision_name or (
        resolved.entry.name if resolved.entry and resolved.entry.source == "torchvision" else None
    )
    figures = torchvision_figures(name) if name else None
    if figures is None:
        return []
    comparisons = [Comparison("torchvision", "params", TOTAL, report.totals["params"], figures.num_params,
                              AGREES if report.totals["params"] == figures.num_params else MISMATCH)]  # fmt: skip
    if figures.gmacs is not None and tuple(report.input_shape[1:]) == figures.input_size:
        gmacs = report.totals["macs"] / 1e9
        agrees = math.isclose(round(gmacs, 3), figures.gmacs, abs_tol=1e-9)
        comparisons.append(
            Comparison("torchvision", "GMACs (3 decimals)", TOTAL, round(gmacs, 3), figures.gmacs, AGREES if agrees else MISMATCH)
        )
    return comparisons


def check_paper(resolved: ResolvedModel, report: Report) -> list[Comparison]:
    """A zoo entry's published table: per-layer parameters and connections, totals, MACs."""
    entry = resolved.entry
    if entry is None:
        return []
    comparisons = []
    rows = {layer.name: layer for layer in report.layers}

    def compare(quantity: str, layer: str, ours: int, theirs: int) -> None:
        comparisons.append(Comparison("paper", quantity, layer, ours, theirs, AGREES if ours == theirs else MISMATCH))

    for published in entry.paper_layers:
        row = rows.get(published.name)
        if row is None:
            comparisons.append(Comparison("paper", "layer", published.name, "missing", "present", MISMATCH))
            continue
        compare("trainable params", published.name, row.trainable_params, published.params)
        compare("connections", published.name, row.connections, published.connections)
    totals = report.totals
    if entry.trainable_params is not None:
        compare("trainable params", TOTAL, totals["trainable_params"], entry.trainable_params)
    if entry.num_params is not None:
        compare("params", TOTAL, totals["params"], entry.num_params)
    if entry.connections is not None:
        compare("connections", TOTAL, totals["connections"], entry.connections)
    if entry.macs is not None and report.input_shape[1:] == entry.input_size:
        compare("macs", TOTAL, totals["macs"], entry.macs)
    return comparisons


def check_model(name: str, input_size: tuple[int, ...] | None = None, against: tuple[str, ...] = REFERENCES) -> ModelCheck:
    """Every comparison for one model against the chosen references."""
    unknown = set(against) - set(REFERENCES)
    if unknown:
        raise CnnstatError(f"unknown reference {', '.join(sorted(unknown))}; choose from {', '.join(REFERENCES)}")
    meta = resolve_model(name)
    size = input_size or meta.input_size
    if size is None:
        raise CnnstatError(f"{name} has no default input; pass --input CxHxW")
    shape = (1, *size)
    traced = trace(meta.module, shape)  # one trace serves the report and every FLOP reference
    report = report_from_trace(traced, meta.module, name=meta.name)
    result = ModelCheck(meta.name, shape, report)
    needs_real = {"fvcore", "torch"} & set(against)
    real = None
    if needs_real:
        torch.manual_seed(0)
        real = resolve_model(name, on_meta=False).module
    if "fvcore" in against:
        try:
            result.comparisons += check_fvcore(real, traced)
        except Exception as error:  # fvcore's jit trace fails on some models; say so, don't crash
            result.unavailable["fvcore"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:160]
    if "torch" in against:
        # shapes from a real forward pass of two samples at the checked input
        result.comparisons += check_torch(meta.module, traced, report, real, (2, *size))
    if "torchvision" in against:
        result.comparisons += check_torchvision(meta, report)
    if "paper" in against:
        result.comparisons += check_paper(meta, report)
    return result
