"""cnnstat: what a convolutional network costs, layer by layer, counted exactly and cross-checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .analysis import Report


def analyze(model: Any, input_size: tuple[int, ...] | None = None, **options: Any) -> Report:
    """Per-layer shapes and counts of a model name or module; see :func:`cnnstat.analysis.analyze`."""
    from .analysis import analyze as _analyze  # torch is imported only when asked for

    return _analyze(model, input_size, **options)


__all__ = ["analyze", "__version__"]
