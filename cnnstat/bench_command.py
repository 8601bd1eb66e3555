"""Runs ``cnnstat bench``: progress on stderr, one table (or JSON/CSV) on stdout."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from .bench import BenchOptions, BenchReport, compare_baseline, run_bench
from .render import build_table, human_bytes


def bench_table(report: BenchReport):
    env = report.environment
    title = (
        f"{env['device']} · {env['threads']} threads · {env['dtype']}"
        + (" · channels_last" if env["channels_last"] else "")
        + (" · compiled" if env["compile"] else "")
    )
    rows = [
        (r.model, r.mode, str(r.batch_size), f"{1000 * r.median_s:,.2f}", f"{1000 * r.p10_s:,.2f}–{1000 * r.p90_s:,.2f}",
         f"{r.images_per_s:,.1f}", f"{r.gflops_per_s:,.1f}", f"{100 * r.share_of_peak:.1f}%", human_bytes(r.peak_memory_bytes))
        for r in report.results
    ]  # fmt: skip
    headers = ("Model", "Mode", "Batch", "Median ms", "p10–p90 ms", "Images/s", "GFLOP/s", "Of peak", "Peak memory")
    return build_table(title, headers, rows, 6)


def run_bench_command(models: list[str], *, device: str, mode: str, batch_sizes: tuple[int, ...], input_size: tuple[int, ...] | None,
                      amp: bool, channels_last: bool, compile: bool, threads: int | None, min_time: float, fmt: str,
                      baseline: Path | None) -> None:  # fmt: skip
    """Time, then print the table, JSON or CSV; notes and comparisons go to stderr."""
    err = Console(stderr=True, highlight=False)
    options = BenchOptions(device, mode, batch_sizes, input_size, amp, channels_last, compile, threads, min_time)
    with err.status("starting…") as status:
        report = run_bench(models, options, progress=lambda message: status.update(message))
    for note in report.notes:
        err.print(f"[yellow]note:[/yellow] {note}")
    if fmt == "json":
        sys.stdout.write(report.to_json() + "\n")
    elif fmt == "csv":
        import pandas as pd

        sys.stdout.write(pd.DataFrame([asdict(r) for r in report.results]).to_csv(index=False))
    else:
        Console(highlight=False, width=None if sys.stdout.isatty() else 200).print(bench_table(report))
        peak = report.results[0].peak_gflops if report.results else 0
        err.print(
            f"peak: {peak:,.1f} GFLOP/s ({report.environment['dtype']} matrix multiply on this device); FLOPs are 2 × counted MACs, × 3 for training"
        )
    if baseline is not None:
        changes = compare_baseline(report, baseline)
        rows = [
            (
                c.model,
                c.mode,
                str(c.batch_size),
                f"{c.before:,.1f}",
                f"{c.after:,.1f}",
                f"{c.ratio:.3f}" if c.before else "—",
                c.verdict,
            )
            for c in changes
        ]
        err.print(
            build_table(
                f"Against {baseline}", ("Model", "Mode", "Batch", "Before img/s", "After img/s", "Ratio", "Verdict"), rows, 4
            )
        )
