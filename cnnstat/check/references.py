"""The references cnnstat is checked against: fvcore, torch itself, torchvision's metadata, the papers."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..counting.inputs import InputSpec, meta_inputs, resolve_dtype
from ..counting.records import format_shape
from ..counting.report import LayerCounts, Report
from ..counting.specs import spec_for
from ..counting.trace import trace
from ..zoo import ModelEntry, PublishedFigure, torchvision_figures
from .comparison import AGREES, MISMATCH, NOT_COUNTED, TOTAL, Comparison, Rule, call_keys, reconciled
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
    called: set[str] = set()
    names = {module: name for name, module in meta.named_modules()}
    hooks = [module.register_forward_pre_hook(lambda m, _: called.add(names[m])) for module in names]
    try:
        with counter, torch.no_grad():
            meta(*args, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    root = type(meta).__name__
    theirs = {}
    for key, per_op in counter.get_flop_counts().items():
        if key == "Global":
            continue
        theirs["" if key == root else key.removeprefix(root + ".")] = int(sum(per_op.values()))
    # FlopCounterMode knows a module only by its calls: a container whose children are called one by one
    # (a ModuleList, a detector's parts run by cnnstat) has no figure of its own there to compare with
    books = {name: ledger for name, ledger in ledgers(report, FLOP_REFERENCES["torch"]).items() if name in called}
    comparisons = list(flop_comparisons("torch", books, theirs))
    params = sum(p.numel() for p in real.parameters())
    ours = report.totals["params"]
    comparisons.append(Comparison("torch", "params", TOTAL, ours, params, AGREES if ours == params else MISMATCH))
    comparisons.extend(_shape_comparisons(meta, real, specs))
    return comparisons


def _first_tensor(output: Any) -> torch.Tensor | None:
    """The first tensor of an output (a tensor, or a tuple, list or dict of them), as the trace's rows record it."""
    from torch.utils._pytree import tree_flatten

    return next((leaf for leaf in tree_flatten(output)[0] if isinstance(leaf, torch.Tensor)), None)


def _shape_comparisons(meta: nn.Module, real: nn.Module, specs: list[InputSpec]) -> Iterable[Comparison]:
    """Output shape of every leaf module call: cnnstat's meta trace beside a real forward pass of two samples.

    Calls are paired by module and call number, so one call that only one side sees cannot shift the rest.
    """
    names = {m: n for n, m in real.named_modules()}
    seen: list[tuple[str, tuple[int, ...] | None]] = []

    def record(module: nn.Module, _: Any, output: Any) -> None:
        tensor = _first_tensor(output)
        seen.append((names[module], tuple(tensor.shape) if tensor is not None else None))

    hooks = [m.register_forward_hook(record) for m in names if not list(m.children())]
    args, kwargs = real_inputs(specs, 2)
    try:
        with torch.no_grad():
            real(*args, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    meta_args, meta_kwargs = meta_inputs(specs, 2)
    traced = [(layer.module_name, layer.output_shape) for layer in trace(meta, meta_args, meta_kwargs).layers
              if layer.is_module and layer.inputs]  # fmt: skip
    ours, theirs = _by_call(traced), _by_call(seen)
    for key, shape in theirs.items():
        if shape is None and ours.get(key) is None:
            continue  # no tensor out of this call on either side
        mine = ours.get(key)
        verdict = AGREES if key in ours and mine == shape else MISMATCH
        yield Comparison("torch", "output shape", _call_name(key), format_shape(mine), format_shape(shape), verdict)
    if len(traced) != len(seen):
        yield Comparison("torch", "layer calls", TOTAL, len(traced), len(seen), MISMATCH)


def _by_call(calls: list[tuple[str, tuple[int, ...] | None]]) -> dict[tuple[str, int], tuple[int, ...] | None]:
    """Each call's output shape under (module name, call number)."""
    return dict(zip(call_keys(name for name, _ in calls), (shape for _, shape in calls), strict=True))


def _call_name(key: tuple[str, int]) -> str:
    name, call = key
    return (name or TOTAL) + (f" (call {call})" if call > 1 else "")


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
    comparisons = [_torchvision_params(figures.num_params, report)]
    if figures.gflops is not None and _at_published_input(figures, report):
        comparisons.append(_published("torchvision", figures.gflops, report.totals["macs"]))
    return comparisons


def torchvision_gflops_not_compared(torchvision_name: str | None, report: Report) -> str:
    """Why torchvision's printed GFLOPS were not set beside this count, or "" where they were (or none are printed)."""
    figures = torchvision_figures(torchvision_name) if torchvision_name else None
    if figures is None or figures.gflops is None or _at_published_input(figures, report):
        return ""
    if not figures.inputs:
        return f"its {figures.gflops.printed} GFLOPS are for an input it does not publish"
    measured_on = " and ".join(f"1×{format_shape(spec.shape)}" for spec in figures.inputs)
    return f"its {figures.gflops.printed} GFLOPS are for {measured_on}, not this input"


def _at_published_input(figures: Any, report: Report) -> bool:
    """Whether the report was counted at the batch of one and the inputs torchvision's figures are for."""
    same_input = [meta.shape[1:] for _, meta in report.inputs] == [spec.shape for spec in figures.inputs]
    return bool(figures.inputs) and same_input and report.input_shape[0] == 1


FROZEN_BATCH_NORM = "torchvision's weights freeze the backbone's batch norm (FrozenBatchNorm2d keeps its scale and shift as buffers)"


def _torchvision_params(published: PublishedFigure, report: Report) -> Comparison:
    """Parameters beside num_params; a detector built without weights has trainable batch norm its weights freeze."""
    ours = report.totals["params"]
    if published.agrees(ours):
        return _published("torchvision", published, ours)
    frozen = sum(row.params for row in report.layers if row.type == "BatchNorm2d" and row.module.startswith("backbone."))
    return reconciled("torchvision", "params", TOTAL, ours, int(published.value), [(FROZEN_BATCH_NORM, -frozen)])


def _scope(report: Report, layer: str) -> list[LayerCounts]:
    """The rows a printed figure describes: its layer's, or every row of its module; every row for the model."""
    if not layer:
        return list(report.layers)
    named = [row for row in report.layers if row.name == layer]
    return named or [row for row in report.layers if row.module == layer or row.module.startswith(layer + ".")]


def _paper_count(report: Report, figure: PublishedFigure) -> int | None:
    """cnnstat's count of what ``figure`` describes; None where the report has no such layer or module."""
    rows = _scope(report, figure.layer)
    return sum(getattr(row, figure.quantity) for row in rows) if rows else None


def _biases(rows: list[LayerCounts]) -> int:
    """The bias parameters of the convolutions and matrix products in these rows: the argument their spec names."""
    arguments = ((op.record, spec.bias) for row in rows for op in row.ops if (spec := spec_for(op.record)) and spec.bias)
    biases = (record.optional_tensor(argument) for record, argument in arguments)
    return sum(bias.numel for bias in biases if bias is not None)


#: Parts of a count a source may leave out, by the name its figure gives them: how the rule reads, and their count.
LEFT_OUT: dict[str, tuple[str, Callable[[list[LayerCounts]], int]]] = {
    "biases": ("counts weights only, not the biases", _biases),
}
_NOUNS = {"params": "parameters", "trainable_params": "trainable parameters", "macs": "multiply-adds"}


def _left_out(figure: PublishedFigure, report: Report) -> list[Rule]:
    """One rule per part of the count the source leaves out, with minus its count in the figure's rows."""
    return [
        (f"{figure.source} {LEFT_OUT[part][0]}", -LEFT_OUT[part][1](_scope(report, figure.layer))) for part in figure.leaves_out
    ]


def _carried(entry: ModelEntry, figure: PublishedFigure, report: Report) -> list[Rule] | None:
    """One rule per layer whose printed figure a total adds up; None where that layer has no such figure to carry."""
    rules = []
    for layer in figure.carries:
        carried = next((f for f in entry.published if f.layer == layer and f.quantity == figure.quantity and f.contradicts), None)
        count = _paper_count(report, carried) if carried is not None else None
        if carried is None or count is None:
            return None
        rules.append((f"with {layer} as {carried.source} prints it, {carried.printed}, not the {count:,} its architecture gives",
                      int(carried.value) - count))  # fmt: skip
    return rules


def _closing(figure: PublishedFigure, adjusted: int) -> tuple[list[Rule], str]:
    """The rule by which the printed figure differs from the count, parts left out and figures carried; or why none does.

    Either the printed figure contradicts the arithmetic of the architecture (the rule counts the printed figure
    minus that arithmetic, which must then be cnnstat's count), or the source rounds or truncates to the digits
    it prints (the rule counts the rounding, where rounding ``adjusted`` gives what was printed).
    """
    printed = int(figure.value)
    if figure.contradicts:
        gives = figure.architecture_gives
        if figure.agrees(gives):
            return [], f"{figure.printed} does follow from the architecture, {figure.contradicts} = {gives:,}"
        what = "weights" if "biases" in figure.leaves_out else _NOUNS.get(figure.quantity, figure.quantity.replace("_", " "))
        note = f"; {figure.note}" if figure.note else ""
        text = f"{figure.source} prints {figure.printed}, which does not follow from the architecture: {figure.contradicts} = {gives:,} {what}"
        why = "" if gives == adjusted else f"the arithmetic {figure.contradicts} = {gives:,} is not cnnstat's count, {adjusted:,}"
        return [(text + note, printed - gives)], why
    if adjusted == printed or figure.exact:
        return [], ""
    if figure.agrees(adjusted):
        return [(f"{figure.source} rounds to the digits printed: {adjusted:,} → {figure.printed}", printed - adjusted)], ""
    if figure.rounding == "down" and figure.agrees(adjusted, "down"):
        text = f"{figure.source} truncates to the digits printed: {adjusted:,} → {figure.printed}, where rounding gives {figure.rounded(adjusted)}"
        return [(text, printed - adjusted)], ""
    return [], ""


def _paper_rules(entry: ModelEntry, figure: PublishedFigure, report: Report, ours: int) -> tuple[list[Rule], str]:
    """The named rules between ``ours`` and the printed figure, each with its own count, and why one could not apply.

    In order: the parts the source leaves out, the figures of its layers a total adds up, then the contradiction
    or the rounding. Whether they reach the printed figure is for their counts to say, not for one more rule.
    """
    rules = _left_out(figure, report)
    carried = _carried(entry, figure, report)
    if carried is None:
        return rules, f"{', '.join(figure.carries)}: no printed figure that contradicts the architecture to add up"
    rules += carried
    closing, why = _closing(figure, ours + sum(delta for _, delta in rules))
    return rules + closing, why


def _paper_comparison(entry: ModelEntry, figure: PublishedFigure, report: Report) -> Comparison:
    """One printed figure beside cnnstat's count: agrees at the precision printed, is explained by named rules, or not."""
    ours = _paper_count(report, figure)
    if ours is None:
        return Comparison("paper", "layer", figure.layer, "missing", "present", MISMATCH)
    if figure.agrees(ours) and not figure.contradicts:
        return _published("paper", figure, ours)
    rules, why = _paper_rules(entry, figure, report, ours)
    quantity = figure.quantity.replace("_", " ")
    comparison = reconciled("paper", quantity, figure.layer or TOTAL, ours, int(figure.value), rules, why)
    if comparison.verdict == AGREES:  # a figure said to contradict the architecture that the count gives exactly
        return replace(comparison, verdict=MISMATCH, note=why)
    return comparison


def check_paper(entry: ModelEntry | None, report: Report) -> list[Comparison]:
    """Every figure a zoo entry's source printed, layer by layer and in total, at the precision printed.

    A difference is explained only by named rules whose counts add up to it exactly: the source rounds or
    truncates, leaves a part out, or prints a figure its own architecture does not give (with the arithmetic).
    """
    if entry is None or not entry.published or tuple(report.input_shape[1:]) != entry.input_size or report.input_shape[0] != 1:
        return []
    return [_paper_comparison(entry, figure, report) for figure in entry.published]
