"""The one folder cnnstat keeps things in between runs: measured device peaks and downloaded data sets."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/cnnstat``, else ``~/.cache/cnnstat``.

    As the XDG base directory specification asks, an empty or relative ``XDG_CACHE_HOME`` is ignored: a relative one
    would scatter caches into whatever folder cnnstat runs in.
    """
    chosen = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(chosen) if os.path.isabs(chosen) else Path.home() / ".cache") / "cnnstat"
