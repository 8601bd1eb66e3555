"""Runs ``cnnstat check`` over several models: comparisons, snapshots, tables or JSON, exit code."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from .crosscheck import MISMATCH, NOT_COUNTED, TOTAL, ModelCheck, check_model
from .render import build_table
from .snapshot import SnapshotResult, compare_snapshot


def _value(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def check_tables(result: ModelCheck) -> list:
    """Totals per reference; rows that differ (explained rules aggregated); every mismatch."""
    totals = [c for c in result.comparisons if c.layer == TOTAL and c.verdict != NOT_COUNTED]
    rows = [(c.reference, c.quantity, _value(c.ours), _value(c.theirs), c.verdict, c.explanation) for c in totals]
    tables = [build_table(f"{result.model} · input {'×'.join(map(str, result.input_shape))}",
                          ("Reference", "Quantity", "cnnstat", "Reference value", "Verdict", "Explanation"), rows, 0)]  # fmt: skip
    mismatches = [c for c in result.comparisons if c.verdict == MISMATCH and c.layer != TOTAL]
    if mismatches:
        rows = [(c.layer, c.reference, c.quantity, _value(c.ours), _value(c.theirs), c.explanation) for c in mismatches]
        tables.append(
            build_table(
                "MISMATCH", ("Layer", "Reference", "Quantity", "cnnstat", "Reference value", "Unexplained rules"), rows, 0
            )
        )
    skipped = [c for c in result.comparisons if c.verdict == NOT_COUNTED]
    if skipped:
        rows = [(c.reference, c.layer, _value(c.theirs)) for c in skipped]
        tables.append(build_table("Not counted by the reference", ("Reference", "Op", "Calls"), rows, 1))
    return tables


def run_check(models: list[str], input_size: tuple[int, ...] | None, references: tuple[str, ...],
              snapshot: Path | None, update: bool, fmt: str) -> int:  # fmt: skip
    """Check each model; print tables or one JSON document; return the exit code."""
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True, highlight=False)
    failed = False
    documents = []
    for name in models:
        with err.status(f"checking {name} against {', '.join(references) or 'snapshots only'}…"):
            result = check_model(name, input_size, references)
            snap: SnapshotResult | None = None
            if snapshot is not None:
                snap = compare_snapshot(result.report, snapshot, update)
        failed |= not result.ok or (snap is not None and snap.status == "changed")
        if fmt == "json":
            documents.append({
                "model": result.model, "input": list(result.input_shape), "ok": result.ok,
                "comparisons": [asdict(c) for c in result.comparisons], "unavailable": result.unavailable,
                "snapshot": None if snap is None else {"path": str(snap.path), "status": snap.status, "differences": list(snap.differences)},
            })  # fmt: skip
            continue
        if references:
            for table in check_tables(result):
                out.print(table)
            out.print(result.summary())
        if snap is not None:
            _print_snapshot(out, snap)
    if fmt == "json":
        sys.stdout.write(json.dumps(documents, indent=2) + "\n")
    return 1 if failed else 0


def _print_snapshot(out: Console, snap: SnapshotResult) -> None:
    if snap.status == "changed":
        out.print(f"[red]snapshot {snap.path} differs[/red] (run with --update-snapshot if this change is intended):")
    elif snap.status == "updated":
        out.print(f"snapshot {snap.path} updated:")
    else:
        out.print(f"snapshot {snap.path}: {snap.status}")
    for line in snap.differences:
        out.print(f"  {line}")
