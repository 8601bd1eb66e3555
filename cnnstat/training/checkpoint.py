"""Checkpoints: written atomically, read with ``weights_only=True``, checked for their format version.

A checkpoint is a dict of tensors and plain data; nothing in it can run code when it is read.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..errors import CheckpointError
from ..formats import check_format

FORMAT = 3  # 1: cnnstat 0.1, which wrote no format number; 2: before validation splits and time budgets
REQUIRED = ("config", "model", "epoch", "input_size")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save to a temporary file beside ``path`` and rename it into place."""
    with atomic_path(path) as temporary:
        torch.save({**state, "format": FORMAT}, temporary)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by cnnstat; a folder means its ``best.pt`` (else ``last.pt``)."""
    if path.is_dir():
        candidates = [path / "best.pt", path / "last.pt"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise CheckpointError(f"{path} is a folder without best.pt or last.pt: not a cnnstat run folder")
        path = found
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a cnnstat checkpoint: it is not a file torch.save writes")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} is not a cnnstat checkpoint: it holds objects other than tensors and plain data") from None
    except Exception:  # torch raises many types for a damaged archive
        raise CheckpointError(f"{path} is not a readable cnnstat checkpoint: the file is truncated or corrupt") from None
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED):
        raise CheckpointError(f"{path} is not a cnnstat checkpoint: it has no {', '.join(REQUIRED)}")
    check_format(state.get("format", 1), FORMAT, path, "checkpoint", CheckpointError)
    return state
