"""Layer counters: the structure of special layers whose ops do not show it.

A model family registers a counter for its own module class (LeNet-5's trainable subsampling,
sparse C3 and RBF output do, from the zoo); the core knows none of them. A counter receives the
module, its traced record and the sum of its ops' measures, and returns the layer's measures with
its connections, closed-form count, neurons and formula replaced. A class with a layer counter is
traced as one row even if it has children.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .measures import Measures
from .records import LayerRecord
from .registry import Registry

LayerCounter = Callable[[nn.Module, LayerRecord, Measures], Measures]
LAYER_COUNTERS: Registry[type, LayerCounter] = Registry("layer counter")


def layer_counter(module_type: type[nn.Module]) -> Callable[[LayerCounter], LayerCounter]:
    """Register the decorated function as the counter of ``module_type`` and its subclasses."""

    def register(counter: LayerCounter) -> LayerCounter:
        LAYER_COUNTERS.register(module_type, counter)
        return counter

    return register


def layer_counter_for(module_type: type) -> LayerCounter | None:
    """The layer counter registered for this class or its nearest base class."""
    for base in module_type.__mro__:
        counter = LAYER_COUNTERS.get(base)
        if counter is not None:
            return counter
    return None
