"""A comparison of one cnnstat figure with one reference's, and the verdicts it can have."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..counting.report import Report

AGREES, EXPLAINED, MISMATCH, NOT_COUNTED = "agrees", "explained", "MISMATCH", "not counted"
TOTAL = "(model)"


def call_keys(names: Iterable[str]) -> list[tuple[str, int]]:
    """(name, call number from 1) for each row: a module called several times has several rows, told apart so."""
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append((name, seen[name]))
    return keys


Rule = tuple[str, int]


def figure_text(value: object) -> str:
    """A compared figure as check writes it: whole numbers with thousands separators, anything else as printed."""
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass(frozen=True)
class Comparison:
    """One figure of cnnstat set beside one reference's, with the named rules that explain any difference.

    Each rule carries its own count; what they leave between the two figures is ``unexplained``, never a rule.
    ``note`` says why no rule could apply where one was expected ("the arithmetic … is not cnnstat's count").
    """

    reference: str
    quantity: str
    layer: str
    ours: Any
    theirs: Any
    verdict: str
    rules: tuple[Rule, ...] = ()
    note: str = ""

    @property
    def unexplained(self) -> int:
        """The reference's figure minus cnnstat's and every named rule's count: 0 where they close the gap."""
        if not isinstance(self.ours, int) or not isinstance(self.theirs, int):
            return 0  # figures compared as printed agree or not; there is no count between them
        return self.theirs - self.ours - sum(delta for _, delta in self.rules)

    @property
    def explanation(self) -> str:
        lines = [f"{rule} ({delta:+,})" for rule, delta in self.rules]
        if self.unexplained:
            lines.append(f"no named rule explains {self.unexplained:+,}")
        return "\n".join([*lines, self.note] if self.note else lines)


def reconciled(
    reference: str, quantity: str, layer: str, ours: int, theirs: int, rules: Iterable[Rule] = (), note: str = ""
) -> Comparison:
    """Two counts and the named rules between them; the counts decide the verdict.

    It agrees when they are equal, is explained when the rules' own counts take cnnstat's to the reference's
    exactly, and is a MISMATCH otherwise, with the rest unexplained.
    """
    rules = tuple(rule for rule in rules if rule[1])
    if ours == theirs:
        return Comparison(reference, quantity, layer, ours, theirs, AGREES)
    verdict = EXPLAINED if rules and ours + sum(delta for _, delta in rules) == theirs else MISMATCH
    return Comparison(reference, quantity, layer, ours, theirs, verdict, rules, note)


@dataclass
class ModelCheck:
    """Every comparison for one model at one input."""

    model: str
    input_shape: tuple[int, ...]
    report: Report
    comparisons: list[Comparison] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    @property
    def ok(self) -> bool:
        return self.count(MISMATCH) == 0

    def summary(self) -> str:
        state = "OK" if self.ok else "FAILED"
        noun = "comparison" if len(self.comparisons) == 1 else "comparisons"
        line = (f"{self.model}: {state} — {len(self.comparisons):,} {noun}: {self.count(AGREES):,} agree, "
                f"{self.count(EXPLAINED):,} explained, {self.count(MISMATCH):,} mismatches")  # fmt: skip
        if self.count(NOT_COUNTED):
            line += f", {self.count(NOT_COUNTED):,} not counted by a reference"
        if self.unavailable:
            line += "; unavailable: " + ", ".join(f"{ref} ({why})" for ref, why in self.unavailable.items())
        return line
