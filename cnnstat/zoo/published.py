"""Figures as their sources printed them, compared with a count at the precision printed.

``PublishedFigure("params", "138M", "Simonyan & Zisserman 2014, Table 2")`` agrees with any count
that rounds to 138 million; ``"60,000"`` only with 60,000 exactly; an expression as the classic hand
count of LeNet-5 prints it, ``"(5·5+1)·6·28·28"``, with its exact value.

Where a source's figure differs from the count for a known reason, the figure says which, and
``cnnstat check`` turns each reason into a named rule whose own count closes the gap: the source
truncates (``rounding="down"``), leaves a part of the count out (``leaves_out=("biases",)``),
prints a figure its own architecture does not give (``contradicts="7·7·3·64"``, the arithmetic that
the architecture does give), or builds a total on such figures of its layers (``carries``).
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "thousand": 10**3, "million": 10**6, "billion": 10**9}
_ROUNDED = re.compile(
    r"^(?P<mantissa>\d+(?:\.\d+)?)\s*(?:(?P<suffix>[KMGB]|thousand|million|billion)|[x×]\s*10(?P<power>[⁰¹²³⁴⁵⁶⁷⁸⁹]+))?$"
)
#: How a source rounds to the digits it prints: to the nearest (halves up), or down (it truncates).
ROUNDING = {"half-up": ROUND_HALF_UP, "down": ROUND_DOWN}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Pow: operator.pow}
_POWER = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+|\^(?=\d)")


def _evaluate(node: ast.AST) -> int:
    """An arithmetic expression of whole numbers, +, −, × and powers to a written exponent, nothing else."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not isinstance(node.right, ast.Constant):
        raise ValueError("an exponent is a written number")  # 2**2**99 would never end
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    raise ValueError("not a whole-number expression")


def evaluate(expression: str) -> int:
    """The value of arithmetic as a paper or a hand count writes it: ``"(6·5·5+1)·16"``, ``"7×7×3×64"``, ``"(1·5²+1)·6·28²"``."""
    text = expression.strip().replace(",", "").replace(" ", "")
    text = _POWER.sub(lambda power: "**" + power.group().translate(_SUPERSCRIPTS).lstrip("^"), text)
    return _evaluate(ast.parse(text.replace("·", "*").replace("×", "*").replace("x", "*").replace("−", "-"), mode="eval"))


@dataclass(frozen=True)
class PublishedFigure:
    """One figure a source printed: which quantity, for which layer, exactly as printed, and where."""

    quantity: str  # a report column: params, trainable_params, connections, macs, neurons
    printed: str  # "60,000", "138M", "3.8×10⁹", "0.714", "(5·5+1)·6·28·28"
    source: str  # "LeCun et al. 1998, §II.B"
    layer: str = ""  # the report row it describes, or a module whose rows it sums (inception3a); "" for the whole model
    unit: int = 1  # what one printed unit is worth where the source states it apart (torchvision's GFLOPS: 10⁹)
    rounding: str = "half-up"  # how the source rounds to the digits printed: "half-up", or "down" where it truncates
    leaves_out: tuple[str, ...] = ()  # parts of the count the source does not include, by name: ("biases",)
    contradicts: str = ""  # where the printed figure does not follow from the architecture, the arithmetic that does: "7·7·3·64"
    carries: tuple[str, ...] = ()  # layers whose printed figures, where those contradict the architecture, this one adds up
    note: str = ""  # a clause the check adds to a contradiction: "55 = (227−11)/4+1"

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING:
            raise ValueError(f"rounding must be one of {', '.join(ROUNDING)}, not {self.rounding!r}")

    def _parsed(self) -> tuple[Decimal, int, int | None]:
        """(printed mantissa, its multiplier, decimals shown; None where the figure is exact)."""
        text = self.printed.strip().replace(",", "").replace(" ", "")
        match = _ROUNDED.match(text)
        if match:
            mantissa = Decimal(match["mantissa"])
            multiplier = (
                10 ** int(match["power"].translate(_SUPERSCRIPTS)) if match["power"] else _SUFFIXES[match["suffix"] or ""]
            )
            rounded = match["suffix"] or match["power"] or "." in match["mantissa"] or self.unit != 1
            decimals = len(match["mantissa"].partition(".")[2])
            return mantissa, multiplier * self.unit, decimals if rounded else None
        return Decimal(evaluate(text)), 1, None

    @property
    def value(self) -> float:
        """The printed figure in plain units (138M -> 138,000,000)."""
        mantissa, multiplier, _ = self._parsed()
        return float(mantissa * multiplier)

    @property
    def architecture_gives(self) -> int | None:
        """The value of the arithmetic in ``contradicts``; None where the figure claims no contradiction."""
        return evaluate(self.contradicts) if self.contradicts else None

    @property
    def exact(self) -> bool:
        return self._parsed()[2] is None

    def rounded(self, count: int) -> str:
        """``count`` written as the source writes this figure (138,357,544 -> "138M")."""
        shown = self._shown(count)
        if shown is None:
            return f"{count:,}"
        mantissa = re.match(r"\s*[\d.,]+", self.printed)
        return self.printed.replace(mantissa.group().strip(), str(shown), 1) if mantissa else str(shown)

    def _shown(self, count: int, rounding: str = "half-up") -> Decimal | None:
        """``count`` in the printed unit, rounded to the printed decimals; None for an exact figure."""
        _, multiplier, decimals = self._parsed()
        if decimals is None:
            return None
        return (Decimal(count) / multiplier).quantize(Decimal(1).scaleb(-decimals), rounding=ROUNDING[rounding])

    def agrees(self, count: int, rounding: str = "half-up") -> bool:
        """True when ``count``, rounded to the digits printed (to the nearest unless told), is what was printed."""
        mantissa, multiplier, _ = self._parsed()
        shown = self._shown(count, rounding)
        return count == mantissa * multiplier if shown is None else shown == mantissa
