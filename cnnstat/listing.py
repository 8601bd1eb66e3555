"""Rows for ``cnnstat models``: the zoo, and torchvision's classifiers on request."""

from __future__ import annotations

import fnmatch
from typing import Any

from .shapes import format_shape
from .zoo import get_entry, list_models, resolve_model, torchvision_classification_models, torchvision_figures


def model_rows(pattern: str = "*", *, include_torchvision: bool = False) -> list[dict[str, Any]]:
    """One dict per model: name, aliases, input, params (counted on meta), published MACs, source."""
    rows = []
    for name in list_models(pattern):
        entry = get_entry(name)
        assert entry is not None
        module = resolve_model(name).module
        rows.append(
            {
                "name": name,
                "aliases": list(entry.aliases),
                "input": format_shape(entry.input_size),
                "params": sum(p.numel() for p in module.parameters()),
                "published_macs": entry.macs,
                "source": entry.source,
            }
        )
    if include_torchvision:
        zoo = set(list_models())
        for name in torchvision_classification_models():
            if name in zoo or not fnmatch.fnmatch(name, pattern):
                continue
            figures = torchvision_figures(name)
            rows.append(
                {
                    "name": name,
                    "aliases": [],
                    "input": format_shape(figures.input_size) if figures else "3×224×224",
                    "params": figures.num_params if figures else sum(p.numel() for p in resolve_model(name).module.parameters()),
                    "published_macs": round(figures.gmacs * 1e9) if figures and figures.gmacs else None,
                    "source": "torchvision",
                }
            )
    return rows
