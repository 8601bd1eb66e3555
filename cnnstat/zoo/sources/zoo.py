"""The zoo's registered classics, by name or alias (``cnnstat models``)."""

from __future__ import annotations

from typing import Any

from ...counting.records import format_shape
from ..published import PublishedFigure
from ..registry import get_entry, known_names, list_models
from ..torchvision_models import torchvision_published
from .base import ModelSource, ResolvedModel, register_source


def _described(figures: list[PublishedFigure]) -> list[str]:
    """Model-level figures as printed, with their source; a per-layer table in one phrase."""
    described = [f"{f.quantity.replace('_', ' ')} {f.printed} ({f.source})" for f in figures if not f.layer]
    layers = sorted({f.source for f in figures if f.layer})
    described += [f"per-layer figures ({source})" for source in layers]
    return described


class ZooSource(ModelSource):
    """The models ``register_model`` recorded, with their default input and the figures their sources printed."""

    name = "zoo"

    def claims(self, name: str) -> bool:
        return get_entry(name) is not None

    def resolve(self, name: str) -> ResolvedModel:
        entry = get_entry(name)
        assert entry is not None  # claimed
        return ResolvedModel(entry.name, entry.builder(), entry.inputs, entry=entry, torchvision_name=entry.torchvision_name,
                             source=self.name)  # fmt: skip

    def list(self, pattern: str = "*") -> list[str]:
        return list_models(pattern)

    def describe(self, name: str) -> dict[str, Any]:
        from ..resolve import resolve_model  # built on meta, as every listed model

        entry = get_entry(name)
        assert entry is not None
        module = resolve_model(name).module
        published = _described(list(entry.published))
        if entry.torchvision_name:
            published += torchvision_published(entry.torchvision_name)
        return {
            "name": name, "aliases": list(entry.aliases), "family": "classification", "source": entry.source,
            "input": format_shape(entry.input_size), "params": sum(p.numel() for p in module.parameters()),
            "published": published,
        }  # fmt: skip

    def known_names(self) -> list[str]:
        return known_names()


register_source(ZooSource())
