"""docs/cli.md, generated from the Typer app itself: ``python -m cnnstat.cli.reference > docs/cli.md``.

A test regenerates it and fails when the file in the repository is out of date.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

HEADER = """# Command reference

Every command and option of `cnnstat`, generated from the program itself
(`python -m cnnstat.cli.reference > docs/cli.md`; a test fails when this file is out of date).
Exit codes everywhere: 0 success, 1 a mistake of the input or a failed check (one line on stderr),
2 a usage error, 130 interrupted.
"""


def _default(parameter: Any) -> str:
    default = parameter.default
    if getattr(parameter, "is_flag", False) or default is None or default == () or default == []:
        return ""
    if isinstance(default, Enum):
        default = default.value
    return f"`{default}`"


def _choices(parameter: Any) -> str:
    enum = getattr(getattr(parameter, "type_descriptor", None), "annotation", None)
    if isinstance(enum, type) and issubclass(enum, Enum):
        return " · ".join(f"`{member.value}`" for member in enum)
    return ""


def _cell(text: str) -> str:
    """Help text as the terminal shows it (rich markup read, ``\\[x]`` as ``[x]``) on one Markdown table line."""
    from rich.text import Text

    return " ".join(Text.from_markup(text).plain.split()).replace("|", "\\|")


def reference() -> str:
    """The markdown reference of every command."""
    import typer.main

    from . import app

    group = typer.main.get_command(app)
    lines = [HEADER]
    for name, command in group.commands.items():
        lines.append(f"## `cnnstat {name}`\n")
        lines.append(_cell(command.help or "").split(". ")[0].rstrip(".") + ".\n" if command.help else "")
        details = (command.help or "").split("\n\n")[1:]
        lines += [f"{_cell(paragraph)}\n" for paragraph in details]
        arguments = [p for p in command.params if type(p).__name__ == "TyperArgument"]
        options = [p for p in command.params if type(p).__name__ == "TyperOption"]
        usage = " ".join(f"{p.name.upper()}{'…' if p.nargs == -1 else ''}" if p.required else f"[{p.name.upper()}{'…' if p.nargs == -1 else ''}]" for p in arguments)
        lines.append(f"```\ncnnstat {name} [OPTIONS] {usage}\n```\n")
        if arguments or options:
            lines.append("| argument or option | default | choices | what |\n|---|---|---|---|")
            for parameter in arguments:
                lines.append(f"| `{parameter.name.upper()}` | {_default(parameter)} | | {_cell(parameter.help or '')} |")
            for parameter in options:
                names = ", ".join(f"`{opt}`" for opt in parameter.opts)
                repeat = " (repeatable)" if parameter.multiple else ""
                lines.append(f"| {names}{repeat} | {_default(parameter)} | {_choices(parameter)} | {_cell(parameter.help or '')} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference())
