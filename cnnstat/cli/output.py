"""Where a command's result goes: JSON, CSV, Markdown or tables on stdout, or atomically into ``--out``.

Machine-readable output goes to stdout alone (or, with ``--out``, to a file written atomically);
progress and messages go to stderr. How a table becomes text is ``report/text.py``'s.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console

from ..atomic import write_atomically
from ..report.text import print_whole, rendered_text, rows_text, stdout_console

__all__ = ["Format", "emit", "stderr_console", "write_text"]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def stderr_console(quiet: bool = False) -> Console:
    return Console(stderr=True, highlight=False, emoji=False, quiet=quiet)


def emit(fmt: Format, *, document: Any = None, rows: list[dict[str, Any]] | None = None, columns: list[str] | None = None,
         renderables: list[Any] | None = None, out: Path | None = None) -> None:  # fmt: skip
    """Print (or write to ``out``) one result: JSON of ``document``, CSV/Markdown of ``rows``, or rich ``renderables``."""
    if fmt is Format.json:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif fmt in (Format.csv, Format.markdown):
        text = rows_text(rows or [], fmt.value, columns)
    else:
        if out is None:
            console = stdout_console()
            for renderable in renderables or []:
                print_whole(console, renderable)
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
