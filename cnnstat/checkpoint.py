"""Checkpoints: written atomically, read with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .errors import CheckpointError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save to a temporary file beside ``path`` and rename it into place."""
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by cnnstat; a folder means its ``best.pt`` (else ``last.pt``)."""
    if path.is_dir():
        candidates = [path / "best.pt", path / "last.pt"]
        path = next((c for c in candidates if c.is_file()), candidates[0])
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise CheckpointError(f"{path} is not a readable cnnstat checkpoint: {str(error).splitlines()[0]}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a cnnstat checkpoint (no model or config)")
    return state
