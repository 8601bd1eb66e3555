"""The model registry: a decorator records each builder with its default input and what its source published."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..counting.inputs import InputSpec
from ..counting.registry import Registry
from .published import PublishedFigure

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    """A zoo model: how to build it, what it takes, where it comes from and what that source printed."""

    name: str
    builder: Callable[[], nn.Module]
    input_size: tuple[int, ...]
    source: str  # the architecture's source, named for people: "LeCun et al. 1998"
    aliases: tuple[str, ...] = ()
    published: tuple[PublishedFigure, ...] = ()
    torchvision_name: str | None = None  # torchvision publishes figures for this build (num_params, _ops)

    @property
    def inputs(self) -> tuple[InputSpec, ...]:
        return (InputSpec(self.input_size, "float32"),)


_MODELS: Registry[str, ModelEntry] = Registry("zoo model")
_ALIASES: Registry[str, str] = Registry("zoo alias")


def register_model(
    name: str,
    *,
    input_size: tuple[int, ...],
    source: str,
    aliases: tuple[str, ...] = (),
    published: tuple[PublishedFigure, ...] = (),
    torchvision_name: str | None = None,
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Record the decorated builder under ``name``; a name or alias registered twice raises."""

    def decorate(builder: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        entry = ModelEntry(name, builder, input_size, source, aliases, published, torchvision_name)
        for key in (name, *aliases):
            if key in _MODELS or key in _ALIASES:
                from ..errors import DuplicateNameError

                raise DuplicateNameError(f"a zoo model is already registered under {key!r}")
        _MODELS.register(name, entry)
        for alias in aliases:
            _ALIASES.register(alias, name)
        return builder

    return decorate


def list_models(pattern: str = "*") -> list[str]:
    """Zoo model names matching a shell-style wildcard, in registration order."""
    return [name for name in _MODELS if fnmatch.fnmatch(name, pattern)]


def get_entry(name: str) -> ModelEntry | None:
    """The zoo entry for a name or alias, or None."""
    return _MODELS.get(_ALIASES.get(name) or name)


def known_names() -> list[str]:
    """Every zoo name and alias, for suggestions."""
    return [*_MODELS, *_ALIASES]
