"""cnnstat: what a convolutional network costs, layer by layer, counted exactly and cross-checked.

>>> import cnnstat
>>> report = cnnstat.analyze("lenet5")
>>> report.totals["connections"]
430918
"""

from __future__ import annotations

from .api import analyze, get_model, list_models

__version__ = "0.2.0"

__all__ = ["analyze", "get_model", "list_models", "__version__"]
