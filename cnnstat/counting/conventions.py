"""FLOP conventions: each is one object that owns its whole rule for turning measures into FLOPs.

A convention sees a layer's measures, the ops it ran with their own measures, and whether a layer
counter gave the layer its structure; adding a convention is one more object registered here.
fvcore's convention asks each op's spec (``specs.py``) for fvcore's handle.
Imports no torch, so the command line can list the names instantly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from .measures import Measures
from .records import OpRecord
from .registry import Registry
from .specs import spec_for


@dataclass(frozen=True)
class CountedOp:
    """An op and its measures."""

    record: OpRecord
    measures: Measures


@dataclass(frozen=True)
class Convention(ABC):
    """A named rule from a layer's measures (and its ops') to FLOPs."""

    name: str
    summary: str

    @abstractmethod
    def layer_flops(self, measures: Measures, ops: tuple[CountedOp, ...], structured: bool) -> int:
        """FLOPs of one layer."""


CONVENTIONS: Registry[str, Convention] = Registry("FLOP convention")
DEFAULT_CONVENTION = "lenet"


def register(convention: Convention) -> Convention:
    CONVENTIONS.register(convention.name, convention)
    return convention


def get_convention(name: str) -> Convention:
    """The convention called ``name``; a clear error for any other name."""
    from ..errors import CnnstatError

    convention = CONVENTIONS.get(name)
    if convention is None:
        raise CnnstatError(f"unknown convention {name!r}; choose one of {', '.join(CONVENTIONS)}")
    return convention


@dataclass(frozen=True)
class _Lenet(Convention):
    def layer_flops(self, measures: Measures, ops: tuple[CountedOp, ...], structured: bool) -> int:
        if structured:  # a layer counter gave the layer its closed form, or, without neurons, none: its arithmetic
            return measures.formula_connections if measures.neurons else 2 * measures.macs + measures.elementwise
        return sum(
            op.measures.formula_connections if op.measures.neurons else 2 * op.measures.macs + op.measures.elementwise
            for op in ops
        )


@dataclass(frozen=True)
class _Macs(Convention):
    def layer_flops(self, measures: Measures, ops: tuple[CountedOp, ...], structured: bool) -> int:
        return measures.macs


@dataclass(frozen=True)
class _Arithmetic(Convention):
    def layer_flops(self, measures: Measures, ops: tuple[CountedOp, ...], structured: bool) -> int:
        return 2 * measures.macs + measures.elementwise


@dataclass(frozen=True)
class _Fvcore(Convention):
    def op_flops(self, op: OpRecord, measures: Measures) -> int:
        spec = spec_for(op)
        return spec.fvcore(op, measures) if spec is not None and spec.fvcore is not None else 0

    def layer_flops(self, measures: Measures, ops: tuple[CountedOp, ...], structured: bool) -> int:
        return sum(self.op_flops(op.record, op.measures) for op in ops)

    def why_different(self, op: OpRecord, measures: Measures) -> str:
        """The name of the rule by which fvcore's count of ``op`` differs from its MACs plus elementwise work."""
        counted = self.op_flops(op, measures)
        spec = spec_for(op)
        if spec is not None and spec.bias is not None and counted:
            return "fvcore ignores bias"
        if counted == 0:
            return f"fvcore skips {op.call or op.op}"
        return f"fvcore's own estimate for {op.call or op.op}"


register(_Lenet(
    "lenet",
    "the classic hand count of LeNet-5: conv, linear and pooling layers cost their closed-form connections, "
    "(a·k²+1)·b·m², (in+1)·out, (k²+1)·m²·a; every other layer costs what the `flops` convention gives it",
))  # fmt: skip
register(_Macs("macs", "multiply-accumulates of convolutions and matrix products only: torch's FlopCounterMode / 2"))
register(_Arithmetic(
    "flops", "2 per MAC plus 1 per elementwise operation: bias, normalisation, activation, addition, pooling"
))  # fmt: skip
FVCORE = register(_Fvcore(
    "fvcore",
    "what fvcore's FlopCountAnalysis counts: 1 per MAC of conv/linear/matmul, norms and adaptive average "
    "pooling by its estimates, nothing for activations, additions or max pooling",
))  # fmt: skip
