"""Layer counters: the figures of special layers whose ops do not show them.

A model family registers a counter for its own module class (LeNet-5's trainable subsampling,
sparse C3 and RBF output do, from the zoo); the core knows none of them. A counter reads the
layer's record (its classes, settings, parameters' names and shapes, inputs, outputs and ops) and
the sum of its ops' measures, never a live module, so a trace from any source can be counted. It
returns only the figures it owns: those replace the ops' sums, and every other figure stays the
ops' own, as if no counter were registered. A class with a layer counter is traced as one row
even if it has children.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .measures import Measures
from .records import LayerRecord
from .registry import Registry

LayerCounter = Callable[[LayerRecord, Measures], Mapping[str, Any]]
LAYER_COUNTERS: Registry[str, LayerCounter] = Registry("layer counter")
_PLAIN = (bool, int, float, str, type(None))
#: The figures that give a layer its structure: where a counter owns one, a convention reads the layer's closed form
#: (its neurons and formula connections) in place of its ops'; elsewhere it reads the ops', as if no counter were there.
STRUCTURE = frozenset({"neurons", "formula_connections"})


def class_names(module_type: type) -> tuple[str, ...]:
    """The qualified names of a class and its bases, most derived first: how a record names its layer's class."""
    return tuple(f"{base.__module__}.{base.__qualname__}" for base in module_type.__mro__)


def settings_of(module: object) -> dict[str, Any]:
    """A module's plain hyperparameters (``in_features``, ``batch_first`` …): public attributes that are numbers,
    strings, flags or tuples of them."""
    return {
        key: value for key, value in vars(module).items()
        if not key.startswith("_") and (isinstance(value, _PLAIN) or isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value))
    }  # fmt: skip


def layer_counter(module_type: type) -> Callable[[LayerCounter], LayerCounter]:
    """Register the decorated function as the counter of ``module_type`` and its subclasses."""

    def register(counter: LayerCounter) -> LayerCounter:
        LAYER_COUNTERS.register(class_names(module_type)[0], counter)
        return counter

    return register


def layer_counter_for(classes: Sequence[str]) -> LayerCounter | None:
    """The layer counter registered for the first of ``classes`` (a class, then its bases) that has one."""
    for name in classes:
        counter = LAYER_COUNTERS.get(name)
        if counter is not None:
            return counter
    return None


def count_layer(layer: LayerRecord, measures: Measures) -> tuple[Measures, frozenset[str]]:
    """The layer's measures (its ops' sum, ``measures``) with the figures its counter owns in their place, and their names."""
    counter = layer_counter_for(layer.classes)
    owned = dict(counter(layer, measures)) if counter is not None else {}
    return replace(measures, **owned), frozenset(owned)


def param_shapes(layer: LayerRecord) -> dict[str, tuple[int, ...]]:
    """The shapes of the parameters counted in this layer, by their names inside its module (``weight``, ``0.bias``)."""
    prefix = f"{layer.module_name}." if layer.module_name else ""
    return {param.name.removeprefix(prefix): param.shape for param in layer.params}
