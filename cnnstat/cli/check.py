"""``cnnstat check``: comparisons and snapshots for several models, as tables or one JSON document."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import CnnstatError
from .app import InputOpt, OutOpt, TimeoutOpt, app, user_errors, writable_folder
from .output import Format, emit, format_shape, stderr_console, table


def _value(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def check_tables(result: Any) -> list[Any]:
    """Totals per reference; every mismatch; the ops a reference does not count."""
    from ..check import EXPLAINED, MISMATCH, NOT_COUNTED, TOTAL

    totals = [c for c in result.comparisons if c.layer == TOTAL and c.verdict != NOT_COUNTED]
    rows = [(c.reference, c.quantity, _value(c.ours), _value(c.theirs), c.verdict, c.explanation) for c in totals]
    shape = format_shape(result.input_shape)
    headers = ("Reference", "Quantity", "cnnstat", "Reference value", "Verdict", "Explanation")
    tables = [table(f"{result.model} · input {shape}", headers, rows, 0)]
    explained = [c for c in result.comparisons if c.verdict == EXPLAINED and c.layer != TOTAL and c.reference == "paper"]
    if explained:
        rows = [(c.layer, c.quantity, _value(c.ours), _value(c.theirs), c.explanation) for c in explained]
        tables.append(table("The paper's figures, layer by layer", ("Layer", "Quantity", "cnnstat", "Paper", "Explanation"), rows, 0))
    mismatches = [c for c in result.comparisons if c.verdict == MISMATCH and c.layer != TOTAL]
    if mismatches:
        rows = [(c.layer, c.reference, c.quantity, _value(c.ours), _value(c.theirs), c.explanation) for c in mismatches]
        headers = ("Layer", "Reference", "Quantity", "cnnstat", "Reference value", "Named rules and the rest")
        tables.append(table("MISMATCH", headers, rows, 0))
    skipped = [c for c in result.comparisons if c.verdict == NOT_COUNTED]
    if skipped:
        rows = [(c.reference, c.layer, _value(c.theirs)) for c in skipped]
        tables.append(table("Not counted by the reference", ("Reference", "Op", "Calls"), rows, 1))
    return tables


def _snapshot_lines(snap: Any) -> list[str]:
    """What a snapshot comparison found, as rich markup: the differences escaped (``flops[lenet]`` is no style)."""
    from rich.markup import escape

    path = escape(str(snap.path))
    if snap.status == "changed":
        lines = [f"[red]snapshot {path} differs[/red] (run with --update-snapshot if this change is intended):"]
    elif snap.status == "updated":
        lines = [f"snapshot {path} updated:"]
    else:
        lines = [f"snapshot {path}: {snap.status}"]
    lines += [f"  {escape(line)}" for line in snap.differences]
    if snap.new_fields and snap.status != "updated":
        lines.append(f"  not in the snapshot, not compared: {', '.join(snap.new_fields)} (--update-snapshot adds them)")
    return lines


@app.command()
@user_errors
def check(
    models: Annotated[list[str] | None, typer.Argument(help="Models to check (names as for summary).")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Check every zoo model.")] = False,
    input: InputOpt = None,
    against: Annotated[
        str, typer.Option("--against", help="Comma-separated references: fvcore,torch,torchvision,paper, or none.")
    ] = "fvcore,torch,torchvision,paper",
    snapshot: Annotated[
        Path | None,
        typer.Option("--snapshot", callback=writable_folder, help="Folder of architecture snapshots to write or compare."),
    ] = None,
    update_snapshot: Annotated[bool, typer.Option("--update-snapshot", help="Rewrite snapshots after an intended change.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    timeout: TimeoutOpt = None,
    out: OutOpt = None,
) -> None:
    """Reconcile counts with fvcore, torch, torchvision and the papers; guard architectures with snapshots.

    Exit 0 when everything agrees or is explained, 1 on any MISMATCH or snapshot change. --timeout limits
    each model's whole check: its builds and every forward pass the references run.
    """
    from ..check import check_model
    from ..check.snapshot import compare_snapshot
    from ..counting.inputs import parse_input
    from ..counting.time_limit import time_limit

    if all_models:
        from ..zoo import list_models

        models = [*list_models(), *(models or [])]
    if not models:
        raise CnnstatError("name a model to check, or pass --all")
    if format not in (Format.table, Format.json):
        raise CnnstatError("check writes --format table or json")
    references = tuple(ref.strip() for ref in against.split(",") if ref.strip() and ref.strip() != "none")
    specs = [parse_input(text) for text in input or []]
    err = stderr_console()
    failed = False
    documents: list[dict[str, Any]] = []
    renderables: list[Any] = []
    for name in models:
        with err.status(f"checking {name} against {', '.join(references) or 'snapshots only'}…"):
            with time_limit(timeout, name):  # the references build the model again and run it: all of it is the user's code
                result = check_model(name, specs, references)
            snap = compare_snapshot(result.report, snapshot, update_snapshot) if snapshot is not None else None
        failed |= not result.ok or (snap is not None and snap.status == "changed")
        documents.append({
            "model": result.model, "input": list(result.input_shape), "ok": result.ok,
            "comparisons": [{**asdict(c), "unexplained": c.unexplained} for c in result.comparisons], "unavailable": result.unavailable,
            "snapshot": None if snap is None else {"path": str(snap.path), "status": snap.status,
                                                   "differences": list(snap.differences), "new_fields": list(snap.new_fields)},
        })  # fmt: skip
        if references:
            renderables += [*check_tables(result), result.summary()]
        if snap is not None:
            renderables += _snapshot_lines(snap)
    emit(format, document=documents, renderables=renderables, out=out)
    raise typer.Exit(1 if failed else 0)
