"""Counters for torch's own composite layers, so each is one row with a closed form for ``--explain``.

An LSTM runs two matrix products per step, layer and direction; multi-head attention runs its
projections and two batched products. Their ops are counted as any others; these counters make
each one row (its submodules and functional calls inside it), and the recurrent one gives the
compact formula, used only where it adds up to the ops' own closed-form count. Neither owns a
number: every figure of these layers is their ops'.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .layers import layer_counter, param_shapes
from .measures import Measures
from .ops import batch_prefix
from .records import LayerRecord


@layer_counter(nn.RNNBase)
def count_recurrent(layer: LayerRecord, ops: Measures) -> dict[str, Any]:
    """Per step, layer and direction: (in + 1)·G·h links from the input and (h + 1)·G·h from the state."""
    shapes, settings = param_shapes(layer), layer.settings
    if "weight_hr_l0" in shapes or "weight_ih_l0" not in shapes or not layer.inputs or "batch_first" not in settings:
        return {}  # projections, or a record that does not say how it reads its input: the ops' own formula
    hidden = shapes["weight_hh_l0"][1]
    gates = shapes["weight_ih_l0"][0] // hidden
    bias = int("bias_ih_l0" in shapes)
    directions = 2 if "weight_ih_l0_reverse" in shapes else 1
    shape = layer.inputs[0].shape
    steps, batch = (shape[-2], shape[0]) if settings["batch_first"] and len(shape) == 3 else (shape[0], shape[1] if len(shape) == 3 else 1)
    plus = "+1" if bias else ""
    terms, total, index = [], 0, 0
    while f"weight_ih_l{index}" in shapes:
        inputs = shapes[f"weight_ih_l{index}"][1]
        total += directions * (inputs + bias + hidden + bias) * gates * hidden
        both = "2·" if directions == 2 else ""
        terms.append(f"{both}(({inputs}{plus})+({hidden}{plus}))·{gates}·{hidden}")
        index += 1
    if batch * steps * total != ops.formula_connections:
        return {}  # a variant this closed form does not describe: keep the ops' own
    sum_of_layers = " + ".join(terms) if len(terms) == 1 else f"({' + '.join(terms)})"
    return {"formula": f"{batch_prefix(batch)}{steps}·{sum_of_layers}"}


@layer_counter(nn.MultiheadAttention)
def count_attention(layer: LayerRecord, ops: Measures) -> dict[str, Any]:
    """Projections and the two batched products, one row; the ops' formulas name each term, and their figures stand."""
    return {}
