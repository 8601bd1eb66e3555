"""ONNX files (``model.onnx``), counted by running their graph as torch calls under cnnstat's tracer.

The declared input shapes are the default input; a symbolic dimension other than the batch needs ``--input``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...counting.inputs import InputSpec
from ...errors import ModelLoadError
from .base import ModelSource, ResolvedModel, register_source
from .exported import batch_note
from .extras import optional_import


def declared_specs(graph: Any, initialized: set[str]) -> tuple[tuple[InputSpec, ...] | None, int, list[str]]:
    """Per-sample specs of the graph's inputs, their batch, and the inputs with a symbolic dimension past the batch."""
    from onnx import helper

    specs, batch, symbolic = [], 1, []
    for value in graph.input:
        if value.name in initialized:
            continue  # an old exporter lists initializers among the inputs
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        if None in dims[1:]:
            symbolic.append(value.name)
        if dims and dims[0] is not None and not specs:
            batch = dims[0]
        dtype = str(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        specs.append(InputSpec(tuple(d or 0 for d in dims[1:]), dtype))
    return (None if symbolic else tuple(specs)), batch, symbolic


class OnnxSource(ModelSource):
    """``path/to/model.onnx``: its graph, node by node, as the torch functions of its operators."""

    name = "onnx"
    unavailable_references = {"fvcore": "an ONNX file has no fvcore: fvcore traces a torch module's TorchScript, "
                                        "and the graph is counted here as cnnstat runs it"}  # fmt: skip

    def claims(self, name: str) -> bool:
        return name.endswith(".onnx")

    def resolve(self, name: str) -> ResolvedModel:
        from ..onnx_graph import graph_module

        onnx = optional_import("onnx", "onnx")
        if not Path(name).is_file():
            raise ModelLoadError(f"no such file: {name}")
        try:
            model = onnx.load(name)
        except Exception as error:  # a truncated or foreign file fails inside onnx's parser
            raise ModelLoadError(f"cannot read {name} as ONNX: {type(error).__name__}: {error}") from None
        module = graph_module(model, name)
        specs, batch, symbolic = declared_specs(model.graph, {init.name for init in model.graph.initializer})
        notes = []
        if symbolic:
            notes.append(f"{', '.join(symbolic)} has symbolic dimensions: give its shape with --input")
        if batch != 1:
            notes.append(batch_note(batch))
        return ResolvedModel(name, module, specs, notes=tuple(notes), source=self.name)


register_source(OnnxSource())
