"""cnnstat: what a convolutional network costs, layer by layer, counted exactly and cross-checked.

>>> import cnnstat
>>> report = cnnstat.analyze("lenet5")
>>> report.totals["connections"]
430918
"""

from __future__ import annotations

from .api import analyze, get_model, list_models
from .counting.renderer import set_report_renderer

# The root wires the layers: a report prints itself through the render stage, named here so that counting/ names
# nothing above it; the module, and rich, load when a report is first shown.
set_report_renderer("cnnstat.report.tables")

__version__ = "0.2.0"

__all__ = ["analyze", "get_model", "list_models", "__version__"]
