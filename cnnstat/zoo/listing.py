"""Rows for ``cnnstat models``: the zoo, and every torchvision model on request."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..counting.records import format_shape
from ..fast_start import fast_start
from .published import PublishedFigure
from .registry import get_entry, list_models
from .resolve import resolve_model
from .torchvision_models import torchvision_families, torchvision_figures


def _describe(figures: list[PublishedFigure]) -> list[str]:
    """Model-level figures as printed, with their source; a per-layer table in one phrase."""
    described = [f"{f.quantity.replace('_', ' ')} {f.printed} ({f.source})" for f in figures if not f.layer]
    layers = sorted({f.source for f in figures if f.layer})
    described += [f"per-layer figures ({source})" for source in layers]
    return described


def _torchvision_published(name: str) -> list[str]:
    figures = torchvision_figures(name)
    if figures is None:
        return []
    described = [f"params {figures.num_params.printed}"]
    if figures.gflops is not None:
        described.append(f"GFLOPS {figures.gflops.printed} (torchvision: its MACs)")
    return described


def model_rows(pattern: str = "*", *, include_torchvision: bool = False) -> list[dict[str, Any]]:
    """One dict per model: name, aliases, family, source, input, parameters (counted on meta), published figures."""
    rows = []
    with fast_start():  # the models are built on meta and dropped here
        for name in list_models(pattern):
            entry = get_entry(name)
            assert entry is not None
            module = resolve_model(name).module
            published = _describe(list(entry.published))
            if entry.torchvision_name:
                published += _torchvision_published(entry.torchvision_name)
            rows.append({
                "name": name, "aliases": list(entry.aliases), "family": "classification", "source": entry.source,
                "input": format_shape(entry.input_size), "params": sum(p.numel() for p in module.parameters()),
                "published": published,
            })  # fmt: skip
    if include_torchvision:
        zoo = set(list_models())
        for name, family in torchvision_families().items():
            if name in zoo or not fnmatch.fnmatch(name, pattern):
                continue
            figures = torchvision_figures(name)
            if figures is not None:
                params = int(figures.num_params.value)
                inputs = ", ".join(format_shape(spec.shape) for spec in figures.inputs)
            else:
                resolved = resolve_model(name)
                params = sum(p.numel() for p in resolved.module.parameters())
                inputs = ", ".join(format_shape(spec.shape) for spec in resolved.inputs or ())
            rows.append({
                "name": name, "aliases": [], "family": family, "source": "torchvision", "input": inputs, "params": params,
                "published": _torchvision_published(name),
            })  # fmt: skip
    return rows
