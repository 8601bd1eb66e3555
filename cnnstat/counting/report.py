"""Reports: a trace counted layer by layer, with totals that are column sums.

``count_trace`` turns the records of a trace into one :class:`LayerCounts` per row: the ops'
measures summed (with the figures a layer counter owns, where one is registered), FLOPs under the
report's convention, the receptive field of the row's output, and its share of training memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from .columns import ROW_COLUMNS, SUMMED
from .conventions import DEFAULT_CONVENTION, CountedOp, get_convention
from .layers import STRUCTURE, count_layer
from .measures import Measures
from .memory import DEFAULT_OPTIMIZER, activation_bytes, check_optimizer, training_bytes
from .receptive_field import describe, footprints, unknown_reason
from .records import LayerRecord, TensorMeta, Trace, format_shape
from .specs import count_op, footprint_rule

if TYPE_CHECKING:
    import pandas as pd

    from .graph import Graph


@dataclass(frozen=True)
class LayerCounts:
    """One row of a report: a traced layer call and what it costs. Measures read as attributes (``row.macs``)."""

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
    measures: Measures
    flops: int
    training_bytes: int
    receptive_field: tuple[int, ...] | None
    effective_stride: tuple[int | float | None, ...] | None
    receptive_field_unknown: str = ""  # why the receptive field is unknown, where it is
    called: bool = field(default=True, repr=False)  # False for the row of parameters whose module never ran
    structured: bool = field(default=False, repr=False)  # its layer counter owns its structure (layers.STRUCTURE)
    trainable_bytes: int = field(default=0, repr=False)
    ops: tuple[CountedOp, ...] = field(default=(), repr=False, compare=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "measures":
            raise AttributeError(name)
        measures = object.__getattribute__(self, "measures")
        if name in _MEASURE_NAMES:
            return getattr(measures, name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    @property
    def intensity(self) -> float:
        """Arithmetic intensity: FLOPs under the report's convention per byte moved; 0 where no byte moves."""
        return self.flops / self.bytes if self.bytes else 0.0

    def row(self) -> dict[str, Any]:
        """Every figure of the row by its column name, shapes as lists: the rows of JSON, CSV and pandas."""
        values = {column.name: getattr(self, column.name) for column in ROW_COLUMNS}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


_MEASURE_NAMES = tuple(f.name for f in fields(Measures))


@dataclass(frozen=True)
class Report:
    """Per-layer counts of one model at its inputs; totals are column sums, computed on demand."""

    model: str
    inputs: tuple[tuple[str, TensorMeta], ...]
    outputs: tuple[tuple[str, TensorMeta], ...]
    convention: str
    optimizer: str
    layers: tuple[LayerCounts, ...]
    receptive_field: tuple[int, ...] | None = None  # of the model's (first) output
    notes: tuple[str, ...] = ()
    module_types: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # class name by module path
    receptive_field_unknown: str = ""  # why the output's receptive field is unknown, where it is

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inputs[0][1].shape if self.inputs else ()

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        return self.outputs[0][1].shape if self.outputs else None

    @property
    def totals(self) -> dict[str, int]:
        """Column sums of every summed figure, FLOPs under the report's convention among them."""
        return {name: sum(getattr(layer, name) for layer in self.layers) for name in SUMMED}

    @property
    def uncounted(self) -> list[tuple[str, str]]:
        """(layer, op) pairs that no counter knows."""
        return [(layer.name, op) for layer in self.layers for op in layer.uncounted]

    @property
    def depth(self) -> int:
        """Layers with parameters."""
        return sum(1 for layer in self.layers if layer.params and layer.called)

    @property
    def graph(self) -> Graph:
        """The data-flow graph: a node per row, edges as values flow, joins where values meet (``graph.py``)."""
        from .graph import data_flow_graph

        return data_flow_graph(self)

    def with_convention(self, convention: str) -> Report:
        """The same counts under another FLOP convention."""
        rule = get_convention(convention)
        layers = tuple(replace(layer, flops=rule.layer_flops(layer.measures, layer.ops, layer.structured)) for layer in self.layers)
        return replace(self, convention=convention, layers=layers)

    def to_pandas(self) -> pd.DataFrame:
        """One row per layer, every figure a column."""
        import pandas as pd

        return pd.DataFrame([layer.row() for layer in self.layers])

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data: what ``to_json`` writes."""
        totals = self.totals

        def tensors(entries: tuple[tuple[str, TensorMeta], ...]) -> list[dict[str, Any]]:
            return [{"path": path, "shape": list(meta.shape), "dtype": meta.dtype} for path, meta in entries]

        return {
            "model": self.model,
            "input": list(self.input_shape),
            "inputs": tensors(self.inputs),
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "outputs": tensors(self.outputs),
            "convention": self.convention,
            "optimizer": self.optimizer,
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "receptive_field_unknown": self.receptive_field_unknown,
            "depth": self.depth,
            "totals": totals,
            "uncounted": [{"layer": layer, "op": op} for layer, op in self.uncounted],
            "notes": list(self.notes),
            "layers": [layer.row() for layer in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    # The text forms are the command line's, drawn by the module the package root names (renderer.py), so that
    # counting/ names nothing above it; rich and that module load only when a report is shown.
    def __str__(self) -> str:
        """The layer table and totals of ``cnnstat summary``, as plain text."""
        from .renderer import report_renderer

        return report_renderer().summary_text(self).rstrip("\n")

    def __rich__(self) -> Any:
        """The same table and totals for a rich console or a notebook."""
        from .renderer import report_renderer

        return report_renderer().summary_group(self)

    def __repr__(self) -> str:
        shapes = ", ".join(format_shape(meta.shape) for _, meta in self.inputs)
        totals = self.totals
        return (f"<Report {self.model} · input {shapes} · {len(self.layers)} rows · {totals['params']:,} params · "
                f"{totals['flops']:,} FLOPs ({self.convention})>")  # fmt: skip


def count_trace(traced: Trace, *, name: str, convention: str = DEFAULT_CONVENTION, optimizer: str = DEFAULT_OPTIMIZER) -> Report:
    """Count the layers of a trace, from its records alone."""
    rule = get_convention(convention)
    check_optimizer(optimizer)
    states = footprints(traced, footprint_rule)
    saved = activation_bytes(traced)
    layers = []
    for record, activations in zip(traced.layers, saved, strict=True):
        ops = tuple(CountedOp(op, _without_backward(count_op(op), traced)) for op in record.ops)
        measures = sum((op.measures for op in ops), Measures(activation_bytes=activations))
        measures, owned = count_layer(record, measures)
        # a convention takes the layer's closed form in place of its ops' only where a counter owns that structure
        structured = not owned.isdisjoint(STRUCTURE)
        layers.append(_row(record, measures, ops, structured, rule.layer_flops(measures, ops, structured), states, optimizer))
    output_state = states.get(traced.outputs[0][1].value) if traced.outputs and traced.outputs[0][1].value is not None else None
    notes = (f"no backward figures: {traced.note}",) if not traced.with_autograd else ()
    if not traced.outputs:
        notes += ("the model returned no tensor: its output has no shape, and nothing after its last layer is counted",)
    return Report(name, traced.inputs, traced.outputs, convention, optimizer, tuple(layers), describe(output_state)[0], notes,
                  traced.module_types, unknown_reason(output_state))  # fmt: skip


def _without_backward(measures: Measures, traced: Trace) -> Measures:
    """A trace taken without autograd cannot say which tensors need gradients: no backward figures then."""
    return measures if traced.with_autograd else replace(measures, backward_macs=0)


def _row(record: LayerRecord, measures: Measures, ops: tuple[CountedOp, ...], structured: bool, flops: int,
         states: dict, optimizer: str) -> LayerCounts:  # fmt: skip
    output = record.outputs[0][1] if record.outputs else None
    state = states.get(output.value) if output is not None and output.value is not None else None
    receptive_field, stride = describe(state)
    param_bytes = sum(p.nbytes for p in record.params)
    trainable_bytes = sum(p.nbytes for p in record.params if p.trainable)
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
        param_bytes=param_bytes,
        measures=measures,
        flops=flops,
        training_bytes=training_bytes(param_bytes, trainable_bytes, measures.activation_bytes, optimizer),
        receptive_field=receptive_field,
        effective_stride=stride,
        receptive_field_unknown=unknown_reason(state),
        called=record.input_shape is not None or not record.params,
        structured=structured,
        trainable_bytes=trainable_bytes,
        ops=ops,
    )
