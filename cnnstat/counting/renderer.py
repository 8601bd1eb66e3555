"""Which module draws a report for ``print(report)`` and rich: named by the package root, imported on first use.

The package root (``cnnstat/__init__.py``) wires the layers: it names the renderer by its dotted path, so counting/
names nothing above it, and the renderer (with rich) loads only when a report is first shown. The slot lives apart
from ``report.py`` so that filling it costs ``import cnnstat`` no import of the counting core.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_report_renderer = ""  # a dotted module path, set once by the package root


def set_report_renderer(module_name: str) -> None:
    """Name the module whose ``summary_text`` and ``summary_group`` draw a report."""
    global _report_renderer
    _report_renderer = module_name


def report_renderer() -> ModuleType:
    """The module that draws a report, imported the first time a report is shown."""
    return importlib.import_module(_report_renderer)
