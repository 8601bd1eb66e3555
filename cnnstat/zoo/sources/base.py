"""What a model source is, what it resolves a name to, and the registry that holds the sources in claiming order."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...counting.registry import Registry
from ...errors import UnknownModelError

if TYPE_CHECKING:
    from torch import nn

    from ...counting.inputs import InputSpec
    from ..registry import ModelEntry


@dataclass
class ResolvedModel:
    """A built model with the name it was asked by and the inputs it takes by default.

    ``module`` is what is counted; ``model`` what a user runs (they differ for detectors, whose
    data-dependent parts cannot be counted from a shape); ``notes`` say what the count covers.
    """

    name: str
    module: nn.Module
    inputs: tuple[InputSpec, ...] | None
    entry: ModelEntry | None = None
    torchvision_name: str | None = None
    model: nn.Module | None = None
    notes: tuple[str, ...] = ()
    source: str = ""  # the name of the source that built it

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = self.module

    @property
    def input_size(self) -> tuple[int, ...] | None:
        """The shape of the first default input."""
        return self.inputs[0].shape if self.inputs else None


class ModelSource:
    """One kind of model name: which names it claims, how it builds one, and which it can list.

    ``resolve`` builds in whatever device context its caller set (``resolve_model`` puts parameters on
    meta); a source that cannot enumerate its names (a file, an import path) lists none.
    """

    name: str = ""
    #: Name prefixes (``timm:``) that mark its names whatever its place in the claiming order: a source
    #: registered before it that claims more (an import path takes any colon) must not take them.
    prefixes: tuple[str, ...] = ()
    listed_by_default = True  # `cnnstat models` shows its names without being asked for this source
    unavailable_references: dict[str, str] = {}  # `cnnstat check` references that cannot run on its models, and why

    def claims(self, name: str) -> bool:
        """Whether ``name`` is one of its names: by default, whether it has one of its prefixes."""
        return name.startswith(self.prefixes)

    def resolve(self, name: str) -> ResolvedModel:
        raise NotImplementedError

    def list(self, pattern: str = "*") -> list[str]:
        """Names matching a shell-style wildcard, in the source's order."""
        return []

    def describe(self, name: str) -> dict[str, Any]:
        """One row of ``cnnstat models``: name, aliases, family, source, input, parameters, published figures."""
        raise NotImplementedError

    def known_names(self) -> list[str]:
        """Every name it answers to, for suggestions; by default those it lists."""
        return self.list()


_SOURCES: Registry[str, ModelSource] = Registry("model source")


def register_source(source: ModelSource) -> ModelSource:
    """Add a source after those registered before it, which claim a name first; a second source of one name raises."""
    _SOURCES.register(source.name, source)
    return source


def sources() -> list[ModelSource]:
    """Every registered source, in claiming order."""
    return [source for name in _SOURCES if (source := _SOURCES.get(name)) is not None]


def get_source(name: str) -> ModelSource | None:
    """The source registered under ``name``, or None."""
    return _SOURCES.get(name)


def source_for(name: str) -> ModelSource:
    """The source whose prefix ``name`` has, else the first that claims it; else an error naming the closest known names."""
    for source in sources():
        if name.startswith(source.prefixes):
            return source
    for source in sources():
        if source.claims(name):
            return source
    raise UnknownModelError(f"unknown model {name!r}{suggest(name)}")


def suggest(name: str) -> str:
    """A hint naming the closest known model names."""
    candidates = list(dict.fromkeys(known for source in sources() for known in source.known_names()))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else "; `cnnstat models` lists them"
