"""The format number that files cnnstat writes carry, and the check every reader makes of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import CnnstatError


def check_format(version: Any, newest: int, path: Path, kind: str, error: type[CnnstatError]) -> int:
    """``version`` as an int this cnnstat reads; refuse an unknown or a newer one with a message, never misread it."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise error(f"{path} has an unknown {kind} format {version!r}")
    if version > newest:
        raise error(f"{path} was written by a newer cnnstat ({kind} format {version}; this one reads up to {newest})")
    return version
