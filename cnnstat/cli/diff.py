"""``cnnstat diff A B``: two snapshots, two models, or one model at two inputs, layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import CnnstatError
from .app import InputOpt, OutOpt, app, user_errors
from .output import Format, emit


def _side(name: str, inputs: list[str]) -> tuple[str, dict[str, Any]]:
    """(label, snapshot document) of a snapshot file, or of a model counted at ``inputs``."""
    from ..check.snapshot import read_snapshot, snapshot_document

    if name.endswith(".json"):
        if not Path(name).is_file():
            raise CnnstatError(f"no such snapshot: {name}")
        return Path(name).name, read_snapshot(Path(name))
    from ..check import check_model
    from ..counting.inputs import parse_input
    from ..counting.records import format_shape

    report = check_model(name, [parse_input(text) for text in inputs], ()).report
    return f"{name} @ {format_shape(report.input_shape)}", snapshot_document(report)


@app.command()
@user_errors
def diff(
    a: Annotated[str, typer.Argument(help="A snapshot (.json) or a model (names as for summary).")],
    b: Annotated[str | None, typer.Argument(help="A snapshot or a model; default: A again (with --input-b).")] = None,
    input: InputOpt = None,
    input_b: Annotated[
        list[str] | None, typer.Option("--input-b", help="B's inputs, where they differ from --input (one model at two inputs).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table (lines), markdown (a PR comment) or json.")] = Format.table,
    out: OutOpt = None,
) -> None:
    """The layers added, removed or changed from A to B, with the totals' change; markdown makes a PR comment."""
    from ..check.diff import diff_documents, markdown

    if format is Format.csv:
        raise CnnstatError("diff writes --format table, markdown or json")
    label_a, old = _side(a, list(input or []))
    label_b, new = _side(b or a, list(input_b if input_b is not None else input or []))
    changes = diff_documents(old, new)
    title = f"cnnstat diff: {label_a} → {label_b}"
    if format is Format.json:
        document = {
            "a": label_a, "b": label_b,
            "totals": [{"name": c.name, "old": c.old, "new": c.new, "percent": c.percent} for c in changes.totals],
            "layers": [{"layer": layer.label, "type": layer.type, "change": layer.kind,
                        "fields": [{"name": c.name, "old": c.old, "new": c.new, "percent": c.percent} for c in layer.changes]}
                       for layer in changes.layers],
            "new_fields": list(changes.new_fields),
        }  # fmt: skip
        emit(format, document=document, out=out)
        return
    text = markdown(changes, title)
    if format is Format.table:
        from rich.markup import escape

        lines = [title, *[f"total {change.text()}" for change in changes.totals], *changes.lines()]
        if len(lines) == 1:
            lines.append("no change")
        emit(format, renderables=[escape(line) for line in lines], out=out)
        return
    if out is None:
        typer.echo(text, nl=False)
    else:
        from ..atomic import write_atomically

        write_atomically(out, text)
