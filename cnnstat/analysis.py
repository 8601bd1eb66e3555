"""The Python API: ``analyze(model_or_name, input_size=...)`` -> a Report of per-layer counts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .conventions import CONVENTIONS, DEFAULT_CONVENTION, flops
from .counters import count_layer
from .dynamo_unloaded import dynamo_left_unloaded
from .errors import CnnstatError, InputShapeError
from .trace import Trace, trace

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn


@dataclass(frozen=True)
class LayerCounts:
    """One row of a report: a traced layer and what it costs."""

    name: str
    type: str
    depth: int
    module: str
    is_module: bool
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params: int
    trainable_params: int
    param_bytes: int
    macs: int
    elementwise: int
    fvcore: int
    lenet: int
    connections: int
    formula_connections: int
    neurons: int
    formula: str
    uncounted: tuple[str, ...]


TOTAL_FIELDS = ("params", "trainable_params", "param_bytes", "macs", "elementwise", "fvcore", "lenet",
                "connections", "formula_connections", "neurons")  # fmt: skip


@dataclass(frozen=True)
class Report:
    """Per-layer counts of one model at one input; totals are sums, computed on demand."""

    model: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    convention: str
    layers: tuple[LayerCounts, ...]

    def flops(self, layer: LayerCounts) -> int:
        """FLOPs of one layer under this report's convention."""
        return flops(layer, self.convention)

    @property
    def totals(self) -> dict[str, int]:
        """Column sums, plus FLOPs under the report's convention."""
        sums = {name: sum(getattr(layer, name) for layer in self.layers) for name in TOTAL_FIELDS}
        sums["flops"] = sum(self.flops(layer) for layer in self.layers)
        return sums

    @property
    def uncounted(self) -> list[tuple[str, str]]:
        """(layer, op) pairs that no counter knows."""
        return [(layer.name, op) for layer in self.layers for op in layer.uncounted]

    def module_totals(self, field: str) -> dict[str, int]:
        """``field`` summed per module, over every layer inside it ("" is the whole model)."""
        sums: dict[str, int] = {}
        for layer in self.layers:
            value = self.flops(layer) if field == "flops" else getattr(layer, field)
            parts = layer.module.split(".") if layer.module else []
            for depth in range(len(parts) + 1):
                prefix = ".".join(parts[:depth])
                sums[prefix] = sums.get(prefix, 0) + value
        return sums

    def with_convention(self, convention: str) -> Report:
        """The same counts under another FLOP convention."""
        _check_convention(convention)
        return Report(self.model, self.input_shape, self.output_shape, convention, self.layers)

    def to_pandas(self) -> pd.DataFrame:
        """One row per layer, with FLOPs under the report's convention."""
        import pandas as pd

        frame = pd.DataFrame([{f.name: getattr(layer, f.name) for f in fields(LayerCounts)} for layer in self.layers])
        frame["flops"] = [self.flops(layer) for layer in self.layers]
        return frame


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise CnnstatError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")


# LayerCounts fields that come straight from the counters' Counts.
_COUNTED_FIELDS = ("macs", "elementwise", "fvcore", "lenet", "connections", "formula_connections", "neurons",
                   "formula", "uncounted")  # fmt: skip


def _layer_counts(record: Any, counts: Any) -> LayerCounts:
    return LayerCounts(
        name=record.name,
        type=record.type,
        depth=record.depth,
        module=record.module_name,
        is_module=record.is_module,
        input_shape=record.input_shape,
        output_shape=record.output_shape,
        params=sum(p.numel for p in record.params),
        trainable_params=sum(p.numel for p in record.params if p.trainable),
        param_bytes=sum(p.nbytes for p in record.params),
        **{name: getattr(counts, name) for name in _COUNTED_FIELDS},
    )


def analyze_module(
    module: nn.Module, input_size: tuple[int, ...], *, name: str, batch: int = 1, convention: str = DEFAULT_CONVENTION
) -> Report:
    """Trace and count a built module at ``(batch, *input_size)``."""
    _check_convention(convention)
    if batch < 1:
        raise InputShapeError(f"--batch must be at least 1, got {batch}")
    return report_from_trace(trace(module, (batch, *input_size)), module, name=name, convention=convention)


def report_from_trace(traced: Trace, module: nn.Module, *, name: str, convention: str = DEFAULT_CONVENTION) -> Report:
    """Count the layers of a trace already taken of ``module``."""
    modules = dict(module.named_modules())
    layers = tuple(
        _layer_counts(record, count_layer(record, modules.get(record.module_name) if record.is_module else None))
        for record in traced.layers
    )
    return Report(name, traced.input_shape, traced.output_shape, convention, layers)


def analyze(
    model: str | nn.Module,
    input_size: tuple[int, ...] | None = None,
    *,
    batch: int = 1,
    convention: str = DEFAULT_CONVENTION,
) -> Report:
    """Count a zoo/torchvision/import-path model by name (built on meta) or a module you built."""
    from torch import nn

    from .zoo import resolve_model

    if isinstance(model, nn.Module):
        if input_size is None:
            raise InputShapeError("an input size is needed for a module: pass input_size=(C, H, W)")
        return analyze_module(model, input_size, name=type(model).__name__, batch=batch, convention=convention)
    with dynamo_left_unloaded():  # one block for build and trace, which would each open their own
        resolved = resolve_model(model)
        size = input_size or resolved.input_size
        if size is None:
            raise InputShapeError(f"{model} has no default input; pass --input CxHxW")
        return analyze_module(resolved.module, size, name=resolved.name, batch=batch, convention=convention)
