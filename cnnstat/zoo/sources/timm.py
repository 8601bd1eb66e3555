"""timm's models by name (``timm:convnext_tiny``, ``timm/resnet50.a1_in1k``), built without weights.

``pretrained=False`` always: nothing is downloaded. The default input is the one the model's pretrained
configuration names (a tagged name such as ``resnet50.a1_in1k`` picks that tag's configuration).
"""

from __future__ import annotations

import difflib
import fnmatch
from types import ModuleType
from typing import Any

import torch

from ...counting.inputs import specs_from_sizes
from ...counting.records import format_shape
from ...errors import ModelLoadError, UnknownModelError
from .base import ModelSource, ResolvedModel, register_source
from .extras import optional_import

PREFIXES = ("timm:", "timm/")


def _timm() -> ModuleType:
    return optional_import("timm", "timm")


def timm_name(name: str) -> str:
    """timm's own name of ``timm:x`` or ``timm/x``."""
    return name[len(PREFIXES[0]) :]


class TimmSource(ModelSource):
    """Every architecture ``timm.list_models()`` names, with its pretrained configuration's input size."""

    name = "timm"
    prefixes = PREFIXES
    listed_by_default = False  # over a thousand models: listed when asked for

    def resolve(self, name: str) -> ResolvedModel:
        timm = _timm()
        wanted = timm_name(name)
        if not timm.is_model(wanted):
            close = difflib.get_close_matches(wanted, timm.list_models(), n=3, cutoff=0.6)
            hint = (
                f"; did you mean {', '.join('timm:' + c for c in close)}?" if close else "; `cnnstat models 'timm:*'` lists them"
            )
            raise UnknownModelError(f"timm has no model {wanted!r}{hint}")
        try:
            model = timm.create_model(wanted, pretrained=False)
        except Exception as error:  # an architecture that cannot be built here: say which and why
            try:
                # a builder that probes its backbone with a forward pass on zeros it makes on the CPU (timm's
                # HybridEmbed) meets its own weights on meta: with every tensor on meta the probe runs there
                with torch.device("meta"):
                    model = timm.create_model(wanted, pretrained=False)
            except Exception:  # the first failure is the one that says why
                raise ModelLoadError(f"timm cannot build {wanted}: {type(error).__name__}: {error}") from None
        size = (getattr(model, "pretrained_cfg", None) or {}).get("input_size")
        inputs = tuple(specs_from_sizes(tuple(size))) if size else None
        return ResolvedModel(name, model, inputs, source=self.name)

    def list(self, pattern: str = "*") -> list[str]:
        wanted = timm_name(pattern) if pattern.startswith(PREFIXES) else pattern
        return [f"timm:{name}" for name in _timm().list_models() if fnmatch.fnmatch(name, wanted)]

    def describe(self, name: str) -> dict[str, Any]:
        from ..resolve import resolve_model

        resolved = resolve_model(name)
        return {
            "name": name, "aliases": [], "family": "classification", "source": self.name,
            "input": format_shape(resolved.input_size) if resolved.input_size else "",
            "params": sum(p.numel() for p in resolved.module.parameters()),
            "published": [],  # timm's results tables are not part of the installed package
        }  # fmt: skip

    def known_names(self) -> list[str]:
        return []  # a thousand names would drown a suggestion; timm's own are suggested by resolve


register_source(TimmSource())
