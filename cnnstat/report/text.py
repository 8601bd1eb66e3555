"""Tables as text: one console-width rule, rich tables fitted to a terminal, their plain text, rows as CSV or Markdown.

Every table cnnstat prints goes through here, whether a command prints it or ``print(report)`` does.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from ..counting.columns import plain


def stdout_console(file: Any = None) -> Console:
    """A rich console for tables; output that is not a terminal is 200 columns wide unless COLUMNS says otherwise."""
    wide = (file is not None or not sys.stdout.isatty()) and "COLUMNS" not in os.environ
    return Console(file=file, highlight=False, emoji=False, width=200 if wide else None, soft_wrap=False)


def table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]], numeric: int,
          total: tuple[str, ...] | None = None) -> Table:  # fmt: skip
    """A table whose last ``numeric`` columns are right-aligned and never truncated."""
    rendered = Table(title=title, title_justify="left")
    all_rows = rows + ([total] if total else [])
    for index, header in enumerate(headers):
        if index >= len(headers) - numeric:
            width = max([len(header)] + [len(row[index]) for row in all_rows])
            rendered.add_column(header, justify="right", no_wrap=True, min_width=width)
        else:  # text folds where it must, but never below a short name's width
            shortest = min(max([len(header)] + [len(row[index]) for row in all_rows]), 16)
            rendered.add_column(header, overflow="fold", min_width=shortest)
    for row in rows:
        rendered.add_row(*row)
    if total:
        rendered.add_section()
        rendered.add_row(*total, style="bold")
    return rendered


_WHOLE_NUMBER = re.compile(r"-?\d{1,3}(,\d{3})+")


def abbreviated(cell: Any) -> Any:
    """A whole number written with thousands separators, shortened to three significant digits: ``4,089,184,256`` -> ``4.09G``."""
    if not isinstance(cell, str) or not _WHOLE_NUMBER.fullmatch(cell):
        return cell
    value = int(cell.replace(",", ""))
    for factor, prefix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= 0.9995 * factor:  # 999,950 is 1M, not 1e+03k
            return f"{value / factor:.3g}{prefix}"
    return cell


def _fitted(table: Table) -> Table:
    """The table with its numbers abbreviated and its headers free to wrap onto a second line, to fit a narrow terminal."""
    import copy

    fitted = copy.deepcopy(table)
    for column in fitted.columns:
        column._cells = [abbreviated(cell) for cell in column._cells]
        widest_cell = max((len(str(cell)) for cell in column._cells), default=0)
        widest_word = max((len(word) for word in str(column.header).split()), default=0)
        column.min_width = max(min(column.min_width or 0, widest_cell), widest_word)
        column.no_wrap = False
    return fitted


def needed_width(table: Table, console: Console | None = None) -> int:
    """The fewest columns of text ``table`` takes without crushing a cell."""
    from rich.measure import Measurement

    console = console or stdout_console()
    return Measurement.get(console, console.options.update(width=10_000), table).minimum


def print_whole(console: Console, renderable: Any) -> None:
    """Print a table within the terminal's width, its numbers abbreviated where they must be; one that cannot fit is
    printed as wide as its columns need: a narrow terminal wraps lines rather than crushing names."""
    if isinstance(renderable, Table):
        if needed_width(renderable, console) > console.width:
            renderable = _fitted(renderable)
            width = needed_width(renderable, console)
            if width > console.width:
                Console(file=console.file, highlight=False, emoji=False, width=width, no_color=console.no_color).print(renderable)
                return
    console.print(renderable)


def rendered_text(renderables: list[Any]) -> str:
    """Rich ``renderables`` as plain text, as a command prints them into a file or a pipe."""
    import io

    buffer = io.StringIO()
    console = stdout_console(file=buffer)
    for renderable in renderables:
        print_whole(console, renderable)
    return buffer.getvalue()


def rows_text(rows: list[dict[str, Any]], style: Literal["csv", "markdown"], columns: list[str] | None = None) -> str:
    """CSV (``style`` "csv") or Markdown ("markdown") of plain row dicts; shapes and lists as ``a×b``."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, (list, tuple))).any():
            frame[column] = frame[column].map(lambda v: plain(v) if isinstance(v, (list, tuple)) else v)
    if style == "csv":
        return frame.to_csv(index=False)
    return frame.to_markdown(index=False, floatfmt="", intfmt=",") + "\n"
