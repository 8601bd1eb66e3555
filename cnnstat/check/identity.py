"""A model's identity for its snapshot: the same model has the same key from whatever folder cnnstat runs in.

A zoo or torchvision name is its own identity; ``pkg.module:attr`` is its import name; a file's is its
path relative to the project root (the nearest folder above it holding ``pyproject.toml`` or ``.git``).
"""

from __future__ import annotations

from pathlib import Path

PROJECT_MARKERS = ("pyproject.toml", ".git")


def project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``pyproject.toml`` or ``.git``; ``start`` itself if none does."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return start


def model_identity(spec: str, resolved_name: str) -> str:
    """The key a snapshot is stored under: ``path/rel/to/root.py:attr`` for a file, else ``resolved_name``."""
    from ..zoo.sources import source_for
    from ..zoo.sources.user_code import split_spec

    if source_for(spec).name != "file":
        return resolved_name
    location, attr = split_spec(spec)
    path = Path(location).resolve()
    return f"{path.relative_to(project_root(path.parent)).as_posix()}:{attr}"
