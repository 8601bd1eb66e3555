"""Measures: what an op or a layer costs, in convention-neutral figures that add up.

A FLOP convention (``conventions.py``) turns these into FLOPs; the report, the renderer and the
snapshots read the field list from this class, so a new measure is one field here and the code
that fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


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
    ``formula``: the closed form with its numbers filled in, for ``--explain``: its value is
    ``formula_connections`` where there are neurons, else ``elementwise``.
    ``uncounted``: aten ops no counter knows; never counted as zero without saying so.
    """

    macs: int = 0
    elementwise: int = 0
    connections: int = 0
    formula_connections: int = 0
    neurons: int = 0
    backward_macs: int = 0
    activation_bytes: int = 0
    formula: str = ""
    uncounted: tuple[str, ...] = ()

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


#: The numeric measures, in declaration order: the columns every report, table and snapshot carries.
NUMERIC_MEASURES: tuple[str, ...] = tuple(f.name for f in fields(Measures) if f.type in ("int", int, "float", float))
