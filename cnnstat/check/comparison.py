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


@dataclass(frozen=True)
class Comparison:
    """One figure of cnnstat set beside one reference's, with the named rules that explain any difference."""

    reference: str
    quantity: str
    layer: str
    ours: Any
    theirs: Any
    verdict: str
    rules: tuple[tuple[str, int], ...] = ()

    @property
    def explanation(self) -> str:
        return "\n".join(f"{rule} ({delta:+,})" if isinstance(delta, int) else f"{rule}" for rule, delta in self.rules)


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
