"""Everything the commands print: one console-width rule, one shape formatter, tables, JSON, CSV, Markdown.

Machine-readable output goes to stdout alone (or, with ``--out``, to a file written atomically);
progress and messages go to stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..atomic import write_atomically
from ..counting.columns import human_bytes, plain
from ..counting.records import format_shape

__all__ = ["Format", "emit", "format_shape", "human_bytes", "plain", "stderr_console", "stdout_console", "table"]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def stdout_console(file: Any = None) -> Console:
    """A rich console for tables; output that is not a terminal is 200 columns wide unless COLUMNS says otherwise."""
    wide = (file is not None or not sys.stdout.isatty()) and "COLUMNS" not in os.environ
    return Console(file=file, highlight=False, emoji=False, width=200 if wide else None, soft_wrap=False)


def stderr_console(quiet: bool = False) -> Console:
    return Console(stderr=True, highlight=False, emoji=False, quiet=quiet)


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


def _print_whole(console: Console, renderable: Any) -> None:
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
        _print_whole(console, renderable)
    return buffer.getvalue()


def rows_text(rows: list[dict[str, Any]], fmt: Format, columns: list[str] | None = None) -> str:
    """CSV or Markdown of plain row dicts; shapes and lists as ``a×b``."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, (list, tuple))).any():
            frame[column] = frame[column].map(lambda v: plain(v) if isinstance(v, (list, tuple)) else v)
    if fmt is Format.csv:
        return frame.to_csv(index=False)
    return frame.to_markdown(index=False, floatfmt="", intfmt=",") + "\n"


def emit(fmt: Format, *, document: Any = None, rows: list[dict[str, Any]] | None = None, columns: list[str] | None = None,
         renderables: list[Any] | None = None, out: Path | None = None) -> None:  # fmt: skip
    """Print (or write to ``out``) one result: JSON of ``document``, CSV/Markdown of ``rows``, or rich ``renderables``."""
    if fmt is Format.json:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif fmt in (Format.csv, Format.markdown):
        text = rows_text(rows or [], fmt, columns)
    else:
        if out is None:
            console = stdout_console()
            for renderable in renderables or []:
                _print_whole(console, renderable)
            return
        text = rendered_text(renderables or [])
    write_text(text, out)


def write_text(text: str, out: Path | None) -> None:
    """Machine-readable ``text`` on stdout, or written atomically to ``out`` (said on stderr)."""
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomically(out, text)
        stderr_console().print(f"wrote {out}")
