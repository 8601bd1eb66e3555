"""The column registry: every figure of a report row, declared once.

A column has a name (its key in JSON, CSV and pandas), a header (tables), a unit (how a cell is
written and aligned), an aggregate (how a group of rows and the total combine it) and a source
(where its value comes from). The tables, the totals under them, the views (``--depth``,
``--by type``, ``--top``), ``compare``, JSON, CSV, Markdown, pandas and snapshots all loop over
:data:`COLUMNS`. A measure declares its column on its own field in ``measures.py``
(:func:`cnnstat.counting.measures.measure`), which this registry reads in declaration order.
Imports no torch, so the command line reads it instantly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from .measures import Measures
from .records import format_shape


def human_bytes(count: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")


def counted(number: int, noun: str) -> str:
    """``1 thread``, ``2 threads``: a number with its noun, plural unless the number is one."""
    return f"{number} {noun}{'s' * (number != 1)}"


def plain(value: Any) -> str:
    """One cell of a table or CSV: shapes as 1×3×224×224, whole numbers with thousands separators, None as empty."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "×".join("—" if v is None else str(v) for v in value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


class Unit(str, Enum):
    """What a value is, which decides how its cell is written and aligned."""

    COUNT = "count"  # a whole number: 1,234
    BYTES = "bytes"  # a size: 1.5 KiB
    SHAPE = "shape"  # a tensor's shape, left-aligned: 1×3×224×224, an em dash for none
    EXTENT = "extent"  # a receptive field or stride: 11×11, blank for none
    TEXT = "text"  # a name or a formula, left-aligned
    NAMES = "names"  # several names: the ops no counter knows
    FLAG = "flag"  # True or False
    SHARE = "share"  # a fraction of the total, as a percentage
    RATIO = "ratio"  # one figure per another (FLOPs per byte): two decimals

    @property
    def left_aligned(self) -> bool:
        return self in (Unit.TEXT, Unit.SHAPE)

    def format(self, value: Any) -> str:
        """The cell of ``value``."""
        if self is Unit.BYTES:
            return human_bytes(value)
        if self is Unit.SHAPE:
            return format_shape(None if value is None else tuple(value))
        if self is Unit.NAMES:
            return ", ".join(value)
        if self is Unit.SHARE:
            return f"{100 * value:.1f}%"
        if self is Unit.RATIO:
            return f"{value:,.2f}"
        return plain(value)

    def machine(self, value: Any) -> Any:
        """``value`` as CSV writes it: a fraction to 6 decimals (not a float's 17 digits), anything else as it is."""
        return round(value, 6) if self in (Unit.SHARE, Unit.RATIO) else value


class Aggregate(str, Enum):
    """How the rows of a group (a module, a layer type) combine into one, and whether the report totals it."""

    SUM = "sum"  # added up; the total under a table
    FIRST = "first"  # the first row's where the rows run in order (a module's); none where they are scattered
    LAST = "last"  # the last row's where the rows run in order; none where they are scattered
    MERGE = "merge"  # lists joined without repeats
    NONE = "none"  # a group has none of its own (its name and type are given; a formula is one layer's)

    def combine(self, values: Sequence[Any], in_order: bool, empty: Any = None) -> Any:
        """The group's value from its rows' ``values``; ``empty`` where it has none."""
        if self is Aggregate.SUM:
            return sum(values)
        if self is Aggregate.MERGE:
            merged: list[Any] = []
            for value in values:
                merged.extend(item for item in value if item not in merged)
            return tuple(merged)
        if self is Aggregate.FIRST and in_order:
            return values[0]
        if self is Aggregate.LAST and in_order:
            return values[-1]
        return empty


class Source(str, Enum):
    """Where a column's value comes from."""

    RECORD = "record"  # what the trace recorded of the layer: its name, type, shapes, parameters
    MEASURE = "measure"  # an op measure (``measures.py``), summed over the layer's ops or given by its layer counter
    CONVENTION = "convention"  # FLOPs under the report's convention
    MEMORY = "memory"  # training memory under the report's optimizer
    FLOW = "flow"  # the receptive field, followed through the ops
    TOTAL = "total"  # a row's part of the report's total, not stored in the row


@dataclass(frozen=True)
class Column:
    """One figure of a report row."""

    name: str
    header: str
    unit: Unit
    aggregate: Aggregate
    source: Source
    stored: bool = False  # an architecture fact a snapshot keeps and compares
    empty: Any = None  # a group's value where it has none of its own

    @property
    def in_row(self) -> bool:
        """Whether a row carries it (a share is worked out against the total when shown)."""
        return self.source is not Source.TOTAL

    def format(self, value: Any) -> str:
        return self.unit.format(value)


def _measure_columns() -> tuple[Column, ...]:
    """The columns the measures declare on their fields, in declaration order."""
    return tuple(
        Column(f.name, f.metadata["header"], Unit(f.metadata["unit"]), Aggregate(f.metadata["aggregate"]), Source.MEASURE,
               stored=f.metadata["aggregate"] == Aggregate.SUM.value)
        for f in fields(Measures)
    )  # fmt: skip


#: Every column, in the order of a row's fields (JSON, CSV, pandas), ``share`` last.
COLUMNS: tuple[Column, ...] = (
    Column("name", "Layer", Unit.TEXT, Aggregate.NONE, Source.RECORD, stored=True),
    Column("type", "Type", Unit.TEXT, Aggregate.NONE, Source.RECORD, stored=True),
    Column("depth", "Depth", Unit.COUNT, Aggregate.NONE, Source.RECORD),
    Column("module", "Module", Unit.TEXT, Aggregate.NONE, Source.RECORD),
    Column("is_module", "is_module", Unit.FLAG, Aggregate.NONE, Source.RECORD),
    Column("input_shape", "Input", Unit.SHAPE, Aggregate.FIRST, Source.RECORD, stored=True),
    Column("output_shape", "Output", Unit.SHAPE, Aggregate.LAST, Source.RECORD, stored=True),
    Column("params", "Params", Unit.COUNT, Aggregate.SUM, Source.RECORD, stored=True),
    Column("trainable_params", "Trainable", Unit.COUNT, Aggregate.SUM, Source.RECORD, stored=True),
    Column("param_bytes", "Param memory", Unit.BYTES, Aggregate.SUM, Source.RECORD),
    *_measure_columns(),
    Column("flops", "FLOPs", Unit.COUNT, Aggregate.SUM, Source.CONVENTION, stored=True),
    # FLOPs per byte moved: a ratio, which no group sums; a row works it out from its own flops and bytes
    Column("intensity", "FLOP/B", Unit.RATIO, Aggregate.NONE, Source.CONVENTION),
    Column("training_bytes", "Training memory", Unit.BYTES, Aggregate.SUM, Source.MEMORY),
    Column("receptive_field", "Receptive field", Unit.EXTENT, Aggregate.LAST, Source.FLOW, stored=True),
    Column("effective_stride", "Stride", Unit.EXTENT, Aggregate.LAST, Source.FLOW),
    Column("receptive_field_unknown", "Receptive field unknown", Unit.TEXT, Aggregate.LAST, Source.FLOW, empty=""),
    Column("share", "Share", Unit.SHARE, Aggregate.SUM, Source.TOTAL),
)
COLUMN: dict[str, Column] = {column.name: column for column in COLUMNS}
#: The columns a row carries, in order.
ROW_COLUMNS: tuple[Column, ...] = tuple(column for column in COLUMNS if column.in_row)
#: The columns a report totals: every summed figure a row carries.
SUMMED: tuple[str, ...] = tuple(column.name for column in ROW_COLUMNS if column.aggregate is Aggregate.SUM)
