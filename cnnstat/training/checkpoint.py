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
from ..errors import CheckpointError, OutputError
from ..formats import check_format

FORMAT = 3  # 1: cnnstat 0.1, which wrote no format number; 2: before validation splits and time budgets
REQUIRED = ("config", "model", "epoch", "input_size")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Save to a temporary file beside ``path`` and rename it into place; the old file stays if writing fails."""
    try:
        with atomic_path(path) as temporary:
            torch.save({**state, "format": FORMAT}, temporary)
    except RuntimeError as error:  # torch's writer reports a full disk or a failed write this way
        raise OutputError(f"cannot write {path}: {str(error).splitlines()[0]}") from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by cnnstat; a folder means its ``best.pt`` (else ``last.pt``)."""
    try:
        return _load(path)
    except OSError as error:  # a name too long for the file system, a folder that cannot be read
        raise CheckpointError(f"cannot read {path}: {error.strerror or type(error).__name__}") from None


def _load(path: Path) -> dict[str, Any]:
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
    _check_fields(state, path)
    return state


def _check_fields(state: dict[str, Any], path: Path) -> None:
    """The fields every reader relies on, of the types cnnstat writes them in."""
    config, weights, size, epoch = state["config"], state["model"], state["input_size"], state["epoch"]
    if not isinstance(config, dict) or not isinstance(config.get("model"), str) or not isinstance(config.get("hyper"), dict):
        raise CheckpointError(f"{path} is damaged: its configuration is not the one cnnstat writes (model name and recipe)")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{path} is damaged: its model weights are not a dict of tensors")
    if not (isinstance(size, list) and len(size) == 3 and all(isinstance(d, int) and d > 0 for d in size)):
        raise CheckpointError(f"{path} is damaged: its input size {size!r} is not channels, height, width")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise CheckpointError(f"{path} is damaged: its epoch {epoch!r} is not a count of epochs")


def model_to_build(stored: str, path: Path, named: str | None = None) -> str:
    """The model to rebuild for a checkpoint: the one the user names, else the checkpoint's own, unless that is code.

    ``module:attr`` and ``file.py:attr`` names are imported and run; cnnstat does that only for names
    the user gives, never on the word of a file it reads.
    """
    if named is not None:
        return named
    if ":" in stored:
        raise CheckpointError(f"{path} was trained from {stored!r}, code that cnnstat would import and run; it runs code "
                              f"only when you name it: pass --model {stored} if you trust that code")  # fmt: skip
    return stored


def load_weights(module: torch.nn.Module, weights: Any, path: Path, name: str) -> None:
    """Put a checkpoint's weights into ``module``; weights of other names or shapes are named, and why they can be.

    A zoo model whose layout changed between cnnstat versions is the likeliest cause: its name is the same.
    """
    try:
        module.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as error:  # names or shapes of another model, or no weights at all
        reason = str(error).splitlines()[0].rstrip(":. ") if str(error) else type(error).__name__
        raise CheckpointError(
            f"{path} holds weights that do not fit {name} as this cnnstat builds it (a checkpoint of another model, or of "
            f"an earlier layout of this one, such as an earlier cnnstat's): {reason}"
        ) from None
