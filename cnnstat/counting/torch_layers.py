"""Counters for torch's own composite layers, so each is one row with a closed form for ``--explain``.

An LSTM runs two matrix products per step, layer and direction; multi-head attention runs its
projections and two batched products. Their ops are counted as any others; these counters make
each one row (its submodules and functional calls inside it) and give the compact formula, used
only where it adds up to the ops' own closed-form count.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from .layers import layer_counter
from .measures import Measures
from .ops import batch_prefix
from .records import LayerRecord

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


@layer_counter(nn.RNNBase)
def count_recurrent(module: nn.RNNBase, layer: LayerRecord, measures: Measures) -> Measures:
    """Per step, layer and direction: (in + 1)·G·h links from the input and (h + 1)·G·h from the state."""
    gates = _GATES.get(module.mode)
    if gates is None or module.proj_size or not layer.inputs:
        return measures
    shape = layer.inputs[0].shape
    steps, batch = (shape[-2], shape[0]) if module.batch_first and len(shape) == 3 else (shape[0], shape[1] if len(shape) == 3 else 1)
    directions = 2 if module.bidirectional else 1
    plus = "+1" if module.bias else ""
    terms, total = [], 0
    for index in range(module.num_layers):
        inputs = module.input_size if index == 0 else module.hidden_size * directions
        per_step = (inputs + module.bias + module.hidden_size + module.bias) * gates * module.hidden_size
        total += directions * per_step
        both = "2·" if directions == 2 else ""
        terms.append(f"{both}(({inputs}{plus})+({module.hidden_size}{plus}))·{gates}·{module.hidden_size}")
    if batch * steps * total != measures.formula_connections:
        return measures  # a variant this closed form does not describe: keep the ops' own
    sum_of_layers = " + ".join(terms) if len(terms) == 1 else f"({' + '.join(terms)})"
    return replace(measures, formula=f"{batch_prefix(batch)}{steps}·{sum_of_layers}")


@layer_counter(nn.MultiheadAttention)
def count_attention(module: nn.MultiheadAttention, layer: LayerRecord, measures: Measures) -> Measures:
    """Projections and the two batched products, one row; the ops' formulas name each term."""
    return measures
