"""Measures: what an op or a layer costs, in convention-neutral figures that add up.

A FLOP convention (``conventions.py``) turns these into FLOPs. Each field declares its column
(header, unit, how it aggregates) with :func:`measure`; the column registry (``columns.py``) reads
them, so a new measure is one field here and the op specs that fill it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def measure(header: str, unit: str = "count", aggregate: str = "sum", default: Any = 0) -> Any:
    """A field of :class:`Measures` with its column: table header, unit and aggregate as named in ``columns.py``."""
    return field(default=default, metadata={"header": header, "unit": unit, "aggregate": aggregate})


@dataclass(frozen=True)
class Measures:
    """Figures of one op, or summed over a layer or a model.

    ``macs``: multiply-accumulates of convolutions and matrix products (torch's FlopCounterMode / 2).
    ``elementwise``: other arithmetic, one per element per operation (bias, norm, activation, add, pool).
    ``connections``: real links into output units (none onto padding), one more per bias.
    ``formula_connections``: the classic closed form of LeNet-5's hand count, which ignores padding.
    ``neurons``: output units of layers that combine several inputs (conv, linear, pooling).
    ``backward_macs``: MACs of the gradients the backward pass computes: with respect to the
    input where it needs one, and to the weights where they are trainable.
    ``activation_bytes``: bytes of the non-parameter tensors autograd keeps for backward, each storage once.
    ``bytes``: bytes the forward ops read (inputs, weights) and write (outputs), each tensor once per op; views move none.
    ``formula``: the closed form with its numbers filled in, for ``--explain``: its value is
    ``formula_connections`` where there are neurons, else ``elementwise``.
    ``uncounted``: aten ops no counter knows; never counted as zero without saying so.
    """

    macs: int = measure("MACs")
    elementwise: int = measure("Elementwise")
    connections: int = measure("Connections")
    formula_connections: int = measure("Formula connections")
    neurons: int = measure("Neurons")
    backward_macs: int = measure("Backward MACs")
    activation_bytes: int = measure("Activations", unit="bytes")
    bytes: int = measure("Bytes moved", unit="bytes")
    formula: str = measure("Formula", unit="text", aggregate="none", default="")
    uncounted: tuple[str, ...] = measure("uncounted", unit="names", aggregate="merge", default=())

    def __add__(self, other: Measures) -> Measures:
        summed = {f.name: _combine(getattr(self, f.name), getattr(other, f.name)) for f in fields(self) if f.name != "formula"}
        return Measures(**summed, formula=_joined_formula(self, other))


def _joined_formula(first: Measures, second: Measures) -> str:
    """The formula of a sum, equal to the figure it explains: closed-form connections, else elementwise work.

    With neurons on either side it explains ``formula_connections``, which elementwise work (an attention's
    softmax) is no part of: only the sides with neurons join. Without, it explains ``elementwise``, so work
    that has no formula of its own joins as its count.
    """
    if first.neurons or second.neurons:
        return " + ".join(side.formula for side in (first, second) if side.neurons and side.formula)
    if not (first.formula or second.formula):
        return ""
    return " + ".join(side.formula or f"{side.elementwise}" for side in (first, second) if side.formula or side.elementwise)


def _combine(first: object, second: object) -> object:
    """Numbers add, lists of names merge without repeats."""
    if isinstance(first, tuple):
        return first + tuple(item for item in second if item not in first)  # type: ignore[union-attr]
    return first + second  # type: ignore[operator]
