"""``cnnstat check``: comparisons and snapshots for several models, as tables or one JSON document."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ..counting.columns import counted
from ..counting.records import format_shape
from ..errors import CnnstatError
from ..report.text import table
from .app import InputOpt, OutOpt, TimeoutOpt, app, user_errors, writable_folder
from .output import Format, emit, stderr_console


def check_tables(result: Any) -> list[Any]:
    """Totals per reference; every mismatch; the ops a reference does not count."""
    from ..check import EXPLAINED, MISMATCH, NOT_COUNTED, TOTAL
    from ..check.comparison import figure_text

    totals = [c for c in result.comparisons if c.layer == TOTAL and c.verdict != NOT_COUNTED]
    rows = [(c.reference, c.quantity, figure_text(c.ours), figure_text(c.theirs), c.verdict, c.explanation) for c in totals]
    shape = format_shape(result.input_shape)
    headers = ("Reference", "Quantity", "cnnstat", "Reference value", "Verdict", "Explanation")
    tables = [table(f"{result.model} · input {shape}", headers, rows, 0)]
    explained = [c for c in result.comparisons if c.verdict == EXPLAINED and c.layer != TOTAL and c.reference == "paper"]
    if explained:
        rows = [(c.layer, c.quantity, figure_text(c.ours), figure_text(c.theirs), c.explanation) for c in explained]
        tables.append(table("The paper's figures, layer by layer", ("Layer", "Quantity", "cnnstat", "Paper", "Explanation"), rows, 0))
    mismatches = [c for c in result.comparisons if c.verdict == MISMATCH and c.layer != TOTAL]
    if mismatches:
        rows = [(c.layer, c.reference, c.quantity, figure_text(c.ours), figure_text(c.theirs), c.explanation) for c in mismatches]
        headers = ("Layer", "Reference", "Quantity", "cnnstat", "Reference value", "Named rules and the rest")
        tables.append(table("MISMATCH", headers, rows, 0))
    skipped = [c for c in result.comparisons if c.verdict == NOT_COUNTED]
    if skipped:
        rows = [(c.reference, c.layer, figure_text(c.theirs)) for c in skipped]
        tables.append(table("Not counted by the reference", ("Reference", "Op", "Calls"), rows, 1))
    return tables


def _snapshot_lines(snap: Any, command: str) -> list[str]:
    """What a snapshot comparison found, as rich markup: the differences escaped (``flops[lenet]`` is no style)."""
    from rich.markup import escape

    path = escape(str(_shown(snap.path)))
    if snap.status == "missing":
        return [f"[red]no snapshot {path}[/red]: in CI (CI is set) or with --frozen none is written; "
                f"create it with `{escape(command)} --update-snapshot` and commit it"]  # fmt: skip
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


def _shown(path: Path) -> Path:
    """A path relative to the working folder where it is under it, else absolute: what a user would type."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _summary(results: list[Any], seconds: float) -> str:
    """One line for a check of several models: models, agreements, explained, mismatches, snapshot changes, time."""
    from ..check import AGREES, EXPLAINED, MISMATCH

    def total(verdict: str) -> int:
        return sum(guarded.check.count(verdict) for guarded in results)

    changed = sum(1 for guarded in results if guarded.snapshot is not None and guarded.snapshot.status == "changed")
    missing = sum(1 for guarded in results if guarded.snapshot is not None and guarded.snapshot.status == "missing")
    failed = sum(1 for guarded in results if guarded.failed)
    return (f"{len(results)} models: {failed} failed · {total(AGREES):,} agreements · {total(EXPLAINED):,} explained · "
            f"{total(MISMATCH):,} mismatches · {changed} snapshot changes · {missing} snapshots missing · "
            f"{sum(len(guarded.breaches) for guarded in results)} budget breaches · {seconds:.1f} s")  # fmt: skip


def _command(name: str, inputs: list[str], snapshots: Path) -> str:
    """The command that checks one model again, for the line that says how to write its snapshot."""
    import shlex

    words = ["cnnstat", "check", name, *[f"--input={text}" for text in inputs], "--snapshot", str(snapshots)]
    return " ".join(shlex.quote(word) for word in words)


@app.command()
@user_errors
def check(
    models: Annotated[list[str] | None, typer.Argument(help="Models to check (names as for summary). "
                      "None: the models of \\[tool.cnnstat] in the project's pyproject.toml.")] = None,  # fmt: skip
    all_models: Annotated[bool, typer.Option("--all", help="Check every zoo model.")] = False,
    input: InputOpt = None,
    against: Annotated[
        str | None,
        typer.Option("--against", help="Comma-separated references: fvcore,torch,torchvision,paper (the default), or none."),
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option("--snapshot", callback=writable_folder, help="Folder of architecture snapshots to write or compare."),
    ] = None,
    update_snapshot: Annotated[bool, typer.Option("--update-snapshot", help="Rewrite snapshots after an intended change.")] = False,
    frozen: Annotated[
        bool, typer.Option("--frozen", help="A missing snapshot is an error, not written (the default where CI is set).")
    ] = False,
    budget: Annotated[
        list[str] | None,
        typer.Option("--budget", help="A bound on a total, e.g. macs<=4.2G, params<26M, activation_bytes<=300MiB; repeatable."),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    timeout: TimeoutOpt = None,
    out: OutOpt = None,
) -> None:
    """Reconcile counts with fvcore, torch, torchvision and the papers; guard architectures with snapshots and budgets.

    Exit 0 when everything agrees or is explained, 1 on any MISMATCH, snapshot change, missing snapshot in CI
    (CI set, or --frozen) or broken budget. With no model named, the \\[tool.cnnstat] table of the project's
    pyproject.toml says what to check (docs/ci.md). --timeout limits each model's whole check.
    """
    import os
    import time

    from rich.markup import escape

    from ..check import REFERENCES
    from ..check.budgets import parse_budget
    from ..check.project_config import ModelConfig, project_config
    from ..check.run import ci_frozen, guard_model
    from ..counting.inputs import parse_input
    from ..counting.time_limit import time_limit

    budgets = [parse_budget(text) for text in budget or []]
    config = None
    if all_models:
        from ..zoo import list_models

        models = [*list_models(), *(models or [])]
    if not models:
        config = project_config(Path.cwd())
        if config is None or not config.models:
            raise CnnstatError("name a model to check, pass --all, or list models in [tool.cnnstat] of pyproject.toml")
        budgets += config.budgets
        snapshot = snapshot if snapshot is not None else config.snapshots
    if format not in (Format.table, Format.json):
        raise CnnstatError("check writes --format table or json")
    if against is None:
        against = ",".join(config.references) if config is not None and config.references is not None else ",".join(REFERENCES)
    references = tuple(ref.strip() for ref in against.split(",") if ref.strip() and ref.strip() != "none")
    entries = list(config.models) if config is not None else [ModelConfig(name, tuple(input or []), ()) for name in models]
    frozen = frozen or ci_frozen(os.environ)
    err = stderr_console()
    started = time.perf_counter()
    results = []
    documents: list[dict[str, Any]] = []
    renderables: list[Any] = []
    for entry in entries:
        with err.status(f"checking {entry.model} against {', '.join(references) or 'snapshots only'}…"):
            with time_limit(timeout, entry.model):  # the references build the model again and run it: all of it is the user's code
                guarded = guard_model(entry.model, [parse_input(text) for text in entry.input], references, snapshots=snapshot,
                                      update=update_snapshot, frozen=frozen, budgets=[*budgets, *entry.budgets])  # fmt: skip
        results.append(guarded)
        result, snap = guarded.check, guarded.snapshot
        documents.append({
            "model": result.model, "key": guarded.key, "input": list(result.input_shape), "ok": not guarded.failed,
            "comparisons": [{**asdict(c), "unexplained": c.unexplained} for c in result.comparisons], "unavailable": result.unavailable,
            "snapshot": None if snap is None else {"path": str(snap.path), "status": snap.status,
                                                   "differences": list(snap.differences), "new_fields": list(snap.new_fields)},
            "budgets": [check.to_dict() for check in guarded.budgets], "budget_breaches": list(guarded.breaches),
        })  # fmt: skip
        if references:
            renderables += [*check_tables(result), result.summary()]
        if snap is not None:
            again = "cnnstat check" if config is not None else _command(entry.model, list(entry.input), snapshot)
            renderables += _snapshot_lines(snap, again)
        renderables += [f"[red]budget:[/red] {escape(line)}" for line in guarded.breaches]
        renderables += [f"budget: {escape(check.kept_text())}" for check in guarded.budgets if check.kept]
    if len(results) > 1:
        renderables.append(_summary(results, time.perf_counter() - started))
    emit(format, document=documents, renderables=renderables, out=out)
    failures = [guarded for guarded in results if guarded.failed]
    if failures and (out is not None or format is not Format.table):  # the report went to a file or a machine format
        for guarded in failures:
            err.print(f"error: {escape(guarded.key)}: {_why_failed(guarded)}", highlight=False)
    raise typer.Exit(1 if failures else 0)


def _why_failed(guarded: Any) -> str:
    """One line on what failed a model's check, for stderr when the report itself went elsewhere."""
    reasons = []
    if not guarded.check.ok:
        reasons.append("a count differs from a reference with no rule that explains it (MISMATCH)")
    if guarded.snapshot is not None and guarded.snapshot.failed:
        reasons.append(f"its snapshot is {guarded.snapshot.status} ({guarded.snapshot.path})")
    if guarded.breaches:
        reasons.append(f"{counted(len(guarded.breaches), 'budget')} broken")
    return "; ".join(reasons)
