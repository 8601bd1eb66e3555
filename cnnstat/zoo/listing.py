"""Rows for ``cnnstat models``: every source listed by default, and the others asked for by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import CnnstatError
from .sources import ModelSource, sources


def listed_sources(include: Iterable[str] = (), pattern: str = "") -> list[ModelSource]:
    """The sources listed by default, those named in ``include`` and any that claims ``pattern`` (``timm:res*``)."""
    wanted = set(include)
    unknown = wanted - {source.name for source in sources()}
    if unknown:
        known = ", ".join(source.name for source in sources())
        raise CnnstatError(f"unknown model source {', '.join(sorted(unknown))}; choose from {known}")
    return [source for source in sources() if source.listed_by_default or source.name in wanted or source.claims(pattern)]


def model_names(pattern: str = "*", include: Iterable[str] = ()) -> list[str]:
    """Names matching a shell wildcard, each once, from the sources listed."""
    names: dict[str, None] = {}
    for source in listed_sources(include, pattern):
        names.update(dict.fromkeys(source.list(pattern)))
    return list(names)


def model_rows(pattern: str = "*", include: Iterable[str] = (),
               progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One dict per model: name, aliases, family, source, input, parameters (counted on meta), published figures.

    Each model is built to count its parameters (timm alone has over a thousand): ``progress`` hears which, of how many.
    """
    chosen: dict[str, ModelSource] = {}
    for source in listed_sources(include, pattern):
        for name in source.list(pattern):
            chosen.setdefault(name, source)  # a name two sources know is shown as the first describes it
    rows = []
    for index, (name, source) in enumerate(chosen.items(), 1):
        if progress is not None:
            progress(f"building {name} to count its parameters ({index}/{len(chosen)})…")
        rows.append(source.describe(name))
    return rows
