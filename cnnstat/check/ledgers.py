"""FLOP references as ledgers: cnnstat's base count per module, and each named rule's share of the gap.

Each reference has a *base* count cnnstat computes for it (fvcore: one per MAC plus the elementwise
work; FlopCounterMode: two per MAC plus it) and a *mirror*: what the reference itself counts for an
op. Where they differ, the gap is put on a named rule ("fvcore skips max_pool2d"). A module agrees
when base equals the reference, is explained when base plus the rules' own counts equals it exactly,
and is a MISMATCH otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..counting.conventions import BIAS_OPS, FVCORE
from ..counting.measures import Measures
from ..counting.records import OpRecord
from ..counting.report import Report
from .comparison import AGREES, EXPLAINED, MISMATCH, TOTAL, Comparison


@dataclass(frozen=True)
class FlopReference:
    name: str
    base: Callable[[Measures], int]
    mirror: Callable[[OpRecord, Measures], int]
    rule: Callable[[OpRecord, Measures], str]


def _torch_rule(op: OpRecord, measures: Measures) -> str:
    if op.op in BIAS_OPS and measures.macs:
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
            gap = base - reference.mirror(op.record, op.measures)
            for prefix in prefixes:
                ledger = books[prefix]
                ledger.base += base
                if gap:
                    ledger.rules[reference.rule(op.record, op.measures)] += gap
    return books


def flop_comparisons(reference: str, books: dict[str, ModuleLedger], theirs: dict[str, int]) -> Iterable[Comparison]:
    """One comparison per module: agrees, explained by the rules' exact counts, or MISMATCH."""
    for name, ledger in books.items():
        value = theirs.get(name, 0)
        rules = tuple(sorted(((rule, -delta) for rule, delta in ledger.rules.items() if delta), key=lambda r: r[0]))
        if ledger.base == value:
            verdict, rules = AGREES, ()
        elif ledger.base + sum(delta for _, delta in rules) == value:
            verdict = EXPLAINED
        else:
            verdict = MISMATCH
        yield Comparison(reference, "flops", name or TOTAL, ledger.base, value, verdict, rules)
