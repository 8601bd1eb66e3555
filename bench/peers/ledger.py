"""A peer tool as data: how to run it, and each of its figures as cnnstat's MACs plus terms counted from rows."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Row = Any  # a cnnstat LayerCounts row
Result = dict[str, Any]  # a tool's run: {"params", "figures", "printed", optional "notes" and "receptive_field"}


@dataclass(frozen=True)
class Term:
    """One part of a tool's figure beyond cnnstat's MACs: what it is, and its count in one row."""

    meaning: str
    count: Callable[[Row], int]


@dataclass(frozen=True)
class Ledger:
    """One figure of a tool, predicted as cnnstat's MACs plus terms: a table of terms, or a function of the rows."""

    name: str  # as the ledger's heading prints it: "torchscan FLOPs"
    figure: str  # the tool's figure it predicts: "FLOPs"
    terms: dict[str, Term] = field(default_factory=dict)
    legend: str = ""  # for a ledger that is a function of the rows, what its terms are
    by_rows: Callable[[list[Row]], list[tuple[str, int]]] | None = None

    def meanings(self) -> dict[str, str]:
        return {key: term.meaning for key, term in self.terms.items()} if self.by_rows is None else {"terms": self.legend}

    def count(self, rows: Iterable[Row]) -> list[tuple[str, int]]:
        """Each term's total over the rows that ran (a module never called has no shapes), the zero ones left out."""
        called = [row for row in rows if row.output_shape is not None]
        if self.by_rows is not None:
            return self.by_rows(called)
        totals = [(key, sum(term.count(row) for row in called)) for key, term in self.terms.items()]
        return [(key, total) for key, total in totals if total]


@dataclass(frozen=True)
class Peer:
    """One tool, run one way: its pip package, its run, its ledgers, and the figures that count 2 per MAC."""

    name: str
    package: str | None  # None: one of the project's own packages
    run: Callable[[Any, tuple[int, ...], Any], Result]  # (model, input shape without batch, input tensor)
    ledgers: tuple[Ledger, ...]
    two_per_mac: frozenset[str] = frozenset()
    params_terms: Callable[[list[Row]], list[tuple[str, int]]] | None = None  # parameters it leaves out, by why


# -- what the tables read from a row ---------------------------------------------------------------

BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
MAX_POOLS = ("MaxPool1d", "MaxPool2d", "MaxPool3d")
AVG_POOLS = ("AvgPool1d", "AvgPool2d", "AvgPool3d")
ADAPTIVE_AVG_POOLS = ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")
WEIGHTED = ("Conv2d", "Linear")


def numel(shape: tuple[int, ...] | None) -> int:
    return math.prod(shape) if shape else 0


def inputs(row: Row) -> int:
    return numel(row.input_shape)


def outputs(row: Row) -> int:
    return numel(row.output_shape)


def of_type(kinds: tuple[str, ...] | str, count: Callable[[Row], int]) -> Callable[[Row], int]:
    """``count`` of the rows of these layer types, 0 for the rest."""
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    return lambda row: count(row) if row.type in kinds else 0


def bias_adds(row: Row) -> int:
    """Bias additions of a row's ops that add a bias (their op spec names it): one per output element."""
    from cnnstat.counting.specs import spec_for

    return sum(
        numel(op.record.outputs[0].shape)
        for op in row.ops
        if (spec := spec_for(op.record)) is not None and spec.bias and op.record.optional_tensor(spec.bias) is not None
    )


def first_tensor(op: Any) -> tuple[int, ...]:
    """The shape of an op's first tensor argument."""
    return next((argument.shape for argument in op.record.arguments.values() if hasattr(argument, "shape")), ())


def pool_kernel(row: Row) -> tuple[int, ...]:
    return next((tuple(op.record.arguments["kernel_size"]) for op in row.ops if "kernel_size" in op.record.arguments), ())


def adaptive_window(row: Row) -> tuple[int, ...]:
    """torchscan's adaptive_kernel_size: in // out per spatial dimension, or in % out + 1 when it does not divide."""
    return tuple(i // o if i % o == 0 else i % o + 1 for i, o in zip(row.input_shape[2:], row.output_shape[2:], strict=False))
