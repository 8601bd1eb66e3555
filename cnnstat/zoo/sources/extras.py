"""Importing the package an optional source needs, or one line saying which extra installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ...errors import ModelLoadError


def optional_import(module: str, extra: str) -> ModuleType:
    """``module`` imported, or a ModelLoadError naming ``pip install 'cnnstat[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelLoadError(f"{module} is not installed: pip install 'cnnstat[{extra}]'") from None
