"""Parsing of ``--input`` strings such as ``3x224x224``; imports nothing heavy."""

from __future__ import annotations

from .errors import InputShapeError

EXPECTED_FORM = "CxHxW (e.g. 3x224x224) or HxW for one channel (e.g. 28x28)"


def parse_input(text: str) -> tuple[int, ...]:
    """Return the per-sample input shape (C, H, W) named by ``text``."""
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = tuple(int(part) for part in parts)
    except ValueError:
        raise InputShapeError(f"cannot read --input {text!r}: expected {EXPECTED_FORM}") from None
    if len(dims) == 2:
        dims = (1, *dims)
    if len(dims) != 3 or any(d <= 0 for d in dims):
        raise InputShapeError(f"cannot read --input {text!r}: expected {EXPECTED_FORM}")
    return dims


def format_shape(shape: tuple[int, ...] | None) -> str:
    """``(1, 3, 224, 224)`` -> ``1×3×224×224``; empty for no shape."""
    return "" if shape is None else "×".join(str(d) for d in shape)
