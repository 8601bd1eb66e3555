"""The one folder cnnstat keeps things in between runs: measured device peaks and downloaded data sets."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/cnnstat``, else ``~/.cache/cnnstat``."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnnstat"
