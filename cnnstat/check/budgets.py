"""Budgets: ``macs<=4.2G``, ``activation_bytes<=300MiB``, held against a report's totals.

Any summed column of the registry can have a budget; a breach names the figure, its budget and the
layers that cost most (or, against a snapshot, grew most).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..counting.columns import COLUMN, SUMMED, Unit
from ..counting.report import Report
from ..errors import CnnstatError
from .diff import flatten, show


class BudgetError(CnnstatError):
    """A budget that cannot be read."""


_SUFFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}  # fmt: skip
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq,
}  # fmt: skip
_PATTERN = re.compile(r"^\s*([A-Za-z_]+)\s*(<=|>=|==|<|>)\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Budget:
    """A bound on one total: ``column op limit``, with the text it was written as."""

    column: str
    op: str
    limit: float
    text: str

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.limit)


def parse_limit(text: str, what: str) -> float:
    """``4.2G`` -> 4.2e9, ``300MiB`` -> 314572800; an unknown suffix names the ones known."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2) not in _SUFFIXES:
        raise BudgetError(f"{what}: cannot read {text!r} as a number with a suffix ({', '.join(s for s in _SUFFIXES if s)})")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def parse_budget(text: str) -> Budget:
    """``macs<=4.2G`` as a Budget; a column that is not a summed figure names those that are."""
    match = _PATTERN.match(text)
    if match is None:
        raise BudgetError(f"budget {text!r}: expected COLUMN OP NUMBER[SUFFIX], e.g. macs<=4.2G or activation_bytes<300MiB")
    column, op, number, suffix = match.groups()
    return budget(column, op + number + suffix, text)


def budget(column: str, condition: str, text: str | None = None) -> Budget:
    """A budget on ``column`` from ``<=4.2G``: the form of the pytest plugin's keywords."""
    if not isinstance(condition, str):  # the plugin's keywords: macs=4_200_000_000 would leave the operator unsaid
        raise BudgetError(f"budget {column}={condition!r}: write the bound as text with its operator, e.g. {column}='<=4.2G'")
    written = text or f"{column}{condition}"
    if column not in SUMMED:
        raise BudgetError(f"budget {written!r}: {column!r} is not a summed figure; choose from {', '.join(SUMMED)}")
    match = re.fullmatch(r"\s*(<=|>=|==|<|>)\s*(.+)", condition)
    if match is None:
        raise BudgetError(f"budget {written!r}: expected an operator <=, <, >=, > or == before the number")
    return Budget(column, match.group(1), parse_limit(match.group(2), f"budget {written!r}"), written)


def _figure(column: str, value: float) -> str:
    if COLUMN[column].unit is Unit.BYTES:
        return show(column, int(value))
    return _si(value)


def _si(value: float) -> str:
    """``4_089_184_256`` -> ``4.09 G`` (exact below a thousand)."""
    for suffix, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {suffix}"
    return f"{value:g}"


def breaches(report: Report, budgets: list[Budget], stored: dict[str, Any] | None = None, top: int = 3) -> list[str]:
    """One line per budget the report breaks: the figure, its budget, the layers that cost (or grew) most."""
    lines = []
    for check in held_against(report, budgets):
        if check.kept:
            continue
        column = check.budget.column
        line = f"{column} = {check.value:,} ({_figure(column, check.value)}) breaks the budget {check.budget.text}"
        lines.append(f"{line}; {_culprits(report, column, stored, top)}")
    return lines


@dataclass(frozen=True)
class BudgetCheck:
    """One budget held against a report's total: the figure, and whether it keeps the budget."""

    budget: Budget
    value: int

    @property
    def kept(self) -> bool:
        return self.budget.holds(self.value)

    @property
    def share(self) -> float | None:
        """The figure over an upper bound (0.97: 97% of the budget used); None for a lower bound or a bound of 0."""
        return self.value / self.budget.limit if self.budget.op in ("<=", "<") and self.budget.limit > 0 else None

    def kept_text(self) -> str:
        """The line that says a budget is kept: the figure and how much of its budget it takes."""
        share = "" if self.share is None else f" ({self.share:.0%} of it)"
        return f"{self.budget.column} = {self.value:,} ({_figure(self.budget.column, self.value)}) keeps the budget {self.budget.text}{share}"

    def to_dict(self) -> dict[str, Any]:
        bound = self.budget
        return {"budget": bound.text, "column": bound.column, "op": bound.op, "limit": bound.limit, "value": self.value,
                "kept": self.kept, "share": self.share}  # fmt: skip


def held_against(report: Report, budgets: list[Budget]) -> list[BudgetCheck]:
    """Each budget beside the report's total of its column."""
    return [BudgetCheck(bound, report.totals[bound.column]) for bound in budgets]


def _culprits(report: Report, column: str, stored: dict[str, Any] | None, top: int) -> str:
    """The layers that grew most against ``stored`` where it has the figure, else the costliest."""
    layers = [(layer.name, getattr(layer, column)) for layer in report.layers]
    if stored is not None:
        before: dict[str, float] = {}
        for row in stored["layers"]:
            flat = flatten(row)
            if column in flat:
                before[row["name"]] = before.get(row["name"], 0) + flat[column]
        now: dict[str, float] = {}
        for name, value in layers:
            now[name] = now.get(name, 0) + value
        grown = sorted(((now[name] - before.get(name, 0), name) for name in now), reverse=True)
        grown = [(delta, name) for delta, name in grown if delta > 0][:top]
        if grown and before:
            return "grew most against the snapshot: " + ", ".join(f"{name} +{_figure(column, d)}" for d, name in grown)
    costliest = sorted(layers, key=lambda item: item[1], reverse=True)[:top]
    return "costliest layers: " + ", ".join(f"{name} {_figure(column, value)}" for name, value in costliest)
