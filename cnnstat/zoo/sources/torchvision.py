"""Every model torchvision can build, by its own name, without weights (``cnnstat models --torchvision``)."""

from __future__ import annotations

import fnmatch
from typing import Any

from ...counting.records import format_shape
from ...errors import ModelLoadError
from ..detection import CountedDetector
from ..torchvision_models import (
    build_torchvision_model,
    torchvision_default_inputs,
    torchvision_families,
    torchvision_figures,
    torchvision_model_names,
    torchvision_published,
)
from .base import ModelSource, ResolvedModel, register_source

QUANTIZED_NOTE = "counted as its float architecture: quantization changes the arithmetic's type, not its count"


class TorchvisionSource(ModelSource):
    """torchvision's classification, segmentation, detection, video, optical-flow and quantized models."""

    name = "torchvision"
    listed_by_default = False  # over a hundred models: listed when asked for

    def claims(self, name: str) -> bool:
        return name in torchvision_families()

    def resolve(self, name: str) -> ResolvedModel:
        try:
            model = build_torchvision_model(name)
        except Exception as error:  # a builder that cannot run here (a quantized model without its engine)
            raise ModelLoadError(f"torchvision cannot build {name} here: {type(error).__name__}: {error}") from None
        inputs = torchvision_default_inputs(name, model)
        family = torchvision_families()[name]
        if family == "detection":
            counted = CountedDetector(model)
            return ResolvedModel(name, counted, inputs, torchvision_name=name, model=model, notes=(counted.describe(),),
                                 source=self.name)  # fmt: skip
        notes = (QUANTIZED_NOTE,) if family == "quantization" else ()
        return ResolvedModel(name, model, inputs, torchvision_name=name, notes=notes, source=self.name)

    def list(self, pattern: str = "*") -> list[str]:
        return [name for name in torchvision_model_names() if fnmatch.fnmatch(name, pattern)]

    def describe(self, name: str) -> dict[str, Any]:
        figures = torchvision_figures(name)
        if figures is not None:
            params = int(figures.num_params.value)
            inputs = ", ".join(format_shape(spec.shape) for spec in figures.inputs)
        else:
            from ..resolve import resolve_model  # built on meta: nothing published to read instead

            resolved = resolve_model(name)
            params = sum(p.numel() for p in resolved.module.parameters())
            inputs = ", ".join(format_shape(spec.shape) for spec in resolved.inputs or ())
        return {
            "name": name, "aliases": [], "family": torchvision_families()[name], "source": self.name, "input": inputs,
            "params": params, "published": torchvision_published(name),
        }  # fmt: skip


register_source(TorchvisionSource())
