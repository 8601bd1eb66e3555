"""FLOP references as ledgers: cnnstat's base count per module, and each named rule's share of the gap.

Each reference has a *base* count cnnstat computes for it (fvcore: one per MAC plus the elementwise
work; FlopCounterMode: two per MAC plus it) and what the reference counts for an op by its own rule:
fvcore's is the fvcore convention itself (``FVCORE.op_flops``, ``FVCORE.why_different``), stated once.
Where they differ, the gap is put on a named rule ("fvcore skips max_pool2d"). A module agrees
when base equals the reference, is explained when base plus the rules' own counts equals it exactly,
and is a MISMATCH otherwise: the reference's own figure, measured by running it, is the judge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..counting.conventions import FVCORE
from ..counting.measures import Measures
from ..counting.records import OpRecord
from ..counting.report import Report
from ..counting.specs import spec_for
from .comparison import TOTAL, Comparison, reconciled


@dataclass(frozen=True)
class FlopReference:
    name: str
    base: Callable[[Measures], int]
    counts: Callable[[OpRecord, Measures], int]  # what the reference counts for an op, by its rule
    rule: Callable[[OpRecord, Measures], str]  # the name of the rule by which that differs from the base


def _torch_rule(op: OpRecord, measures: Measures) -> str:
    if (spec := spec_for(op)) is not None and spec.bias is not None and measures.macs:
        return "FlopCounterMode ignores bias"
    return f"FlopCounterMode skips {op.call or op.op}"


FLOP_REFERENCES = {
    "fvcore": FlopReference("fvcore", lambda m: m.macs + m.elementwise, FVCORE.op_flops, FVCORE.why_different),
    "torch": FlopReference("torch", lambda m: 2 * m.macs + m.elementwise, lambda op, m: 2 * m.macs, _torch_rule),
}


@dataclass
class ModuleLedger:
    base: int = 0
    rules: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def ledgers(report: Report, reference: FlopReference) -> dict[str, ModuleLedger]:
    """Per module (every ancestor too): the base count and each rule's share of the gap."""
    books: dict[str, ModuleLedger] = defaultdict(ModuleLedger)
    for layer in report.layers:
        parts = layer.module.split(".") if layer.module else []
        prefixes = [".".join(parts[:depth]) for depth in range(len(parts) + 1)]
        for op in layer.ops:
            base = reference.base(op.measures)
            gap = base - reference.counts(op.record, op.measures)
            for prefix in prefixes:
                ledger = books[prefix]
                ledger.base += base
                if gap:
                    ledger.rules[reference.rule(op.record, op.measures)] += gap
    return books


def flop_comparisons(reference: str, books: dict[str, ModuleLedger], theirs: dict[str, int]) -> Iterable[Comparison]:
    """One comparison per module: agrees, explained by the rules' own counts, or MISMATCH."""
    for name, ledger in books.items():
        rules = sorted((rule, -delta) for rule, delta in ledger.rules.items())
        yield reconciled(reference, "flops", name or TOTAL, ledger.base, theirs.get(name, 0), rules)
