"""The model registry: a decorator records each builder with the figures its source publishes."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class PaperLayer:
    """One row of a published per-layer table."""

    name: str
    params: int
    connections: int


@dataclass(frozen=True)
class ModelEntry:
    """A zoo model: how to build it and what its source publishes about it."""

    name: str
    builder: Callable[[], nn.Module]
    input_size: tuple[int, int, int]
    source: str
    aliases: tuple[str, ...] = ()
    num_params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None
    connections: int | None = None
    paper_layers: tuple[PaperLayer, ...] = field(default=())
    num_classes: int = 1000


_REGISTRY: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    name: str, *, input_size: tuple[int, int, int], source: str, **published: object
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Record the decorated builder under ``name`` with its default input and published figures."""

    def decorate(builder: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        entry = ModelEntry(name=name, builder=builder, input_size=input_size, source=source, **published)
        _REGISTRY[name] = entry
        for alias in entry.aliases:
            _ALIASES[alias] = name
        return builder

    return decorate


def list_models(pattern: str = "*") -> list[str]:
    """Zoo model names matching a shell-style wildcard, in registration order."""
    return [name for name in _REGISTRY if fnmatch.fnmatch(name, pattern)]


def get_entry(name: str) -> ModelEntry | None:
    """The zoo entry for a name or alias, or None."""
    return _REGISTRY.get(_ALIASES.get(name, name))


def known_names() -> list[str]:
    """Every zoo name and alias, for suggestions."""
    return [*_REGISTRY, *_ALIASES]
