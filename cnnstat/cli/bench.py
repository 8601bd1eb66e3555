"""``cnnstat bench``: progress on stderr, one table (or JSON/CSV) on stdout."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ..counting.columns import counted, human_bytes
from ..errors import CnnstatError
from ..report.text import table
from .app import InputOpt, OutOpt, app, user_errors
from .output import Format, emit, stderr_console
from .train import DEFAULT_DEVICE_NAME, Device


def bench_table(report: Any) -> Any:
    env = report.environment
    title = (
        f"{env['device']} · {counted(env['threads'], 'thread')} · {env['dtype']}"
        + (" · channels_last" if env["channels_last"] else "")
        + (" · compiled" if env["compile"] else "")
    )
    rows = [
        (r.model, r.mode, str(r.batch_size), f"{1000 * r.median_s:,.2f}", f"{1000 * r.p10_s:,.2f}–{1000 * r.p90_s:,.2f}",
         f"{r.images_per_s:,.1f}", f"{r.gflops_per_s:,.1f}", f"{100 * r.share_of_peak:.1f}%",
         human_bytes(r.peak_memory_bytes) if r.peak_memory_bytes is not None else "not measured")
        for r in report.results
    ]  # fmt: skip
    headers = ("Model", "Mode", "Batch", "Median ms", "p10–p90 ms", "Images/s", "GFLOP/s", "Of peak", "Peak memory")
    return table(title, headers, rows, 6)


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise CnnstatError(f"cannot read --batch-size {text!r}: expected numbers separated by commas, e.g. 1,32,256") from None
    if not sizes or any(size < 1 for size in sizes):
        raise CnnstatError(f"--batch-size {text!r}: every batch size must be at least 1")
    return sizes


@app.command()
@user_errors
def bench(
    models: Annotated[list[str], typer.Argument(help="One or more models (names as for summary).")],
    device: Annotated[
        Device, typer.Option(help="auto picks CUDA, then MPS, then the CPU.")  # type: ignore[valid-type]
    ] = DEFAULT_DEVICE_NAME,
    mode: Annotated[str, typer.Option(help="infer: forward pass; train: forward + backward + optimizer step.")] = "infer",
    batch_size: Annotated[str, typer.Option("--batch-size", help="Comma-separated batch sizes.")] = "1,32,256",
    input: InputOpt = None,
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision (CUDA: bf16/fp16; CPU: bf16 where native).")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model first.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads, at most 4 × the cores; default: every core.")] = None,
    min_time: Annotated[
        float, typer.Option("--min-time", min=0.01, max=3600.0, help="Seconds of timing per measurement.")
    ] = 1.0,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    baseline: Annotated[Path | None, typer.Option(help="Earlier --format json output to compare with.")] = None,
    against_compiled: Annotated[
        bool,
        typer.Option("--against-compiled", help="Also time a bare torch.compile loop on the same device and print the "
                     "harness's speed as a share of it (on a GPU it should be 0.97 or more)."),
    ] = False,  # fmt: skip
    out: OutOpt = None,
) -> None:
    """Time inference or training; images/s, GFLOP/s from the counted FLOPs, share of peak, memory."""
    import logging

    # torch.utils.benchmark imports torch's C++ extension builder, which warns "No CUDA runtime is found" on a
    # machine with a CUDA toolkit and no GPU; cnnstat builds no extension, so the warning only misleads here
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from ..benchmark.baseline import compare_baseline, read_baseline
    from ..benchmark.timing import BenchOptions, run_bench
    from ..counting.inputs import parse_input

    if format is Format.markdown:
        raise CnnstatError("bench writes --format table, json or csv")
    if against_compiled and not compile:  # before minutes of timing, not after
        raise CnnstatError("--against-compiled compares the compiled harness with a bare compiled loop: add --compile")
    specs = [parse_input(text) for text in input or []]
    if len(specs) > 1:
        raise CnnstatError("bench times models with one input: give one --input")
    earlier = read_baseline(baseline) if baseline is not None else None
    options = BenchOptions(device.value, mode, _batch_sizes(batch_size), specs[0].shape if specs else None, amp, channels_last,
                           compile, threads, min_time)  # fmt: skip
    err = stderr_console()
    with err.status("starting…") as status:
        report = run_bench(models, options, progress=lambda message: status.update(message))
    for note in report.notes:
        err.print(f"[yellow]note:[/yellow] {note}")
    for result in report.results:  # a figure nobody should act on says so
        if result.doubts:
            err.print(f"[yellow]too noisy to trust:[/yellow] {result.model} batch {result.batch_size}: {'; '.join(result.doubts)}")
    emit(format, document=report.to_dict(), rows=[asdict(r) for r in report.results], renderables=[bench_table(report)],
         out=out)  # fmt: skip
    if format is Format.table:
        peak = report.results[0].peak_gflops if report.results else 0
        err.print(f"peak: {peak:,.1f} GFLOP/s ({report.environment['dtype']}, the best matmul or convolution on this device, "
                  "as cnnstat device measures it); "
                  "FLOPs are 2 × the MACs cnnstat counts, forward and (training) backward")  # fmt: skip
    if against_compiled:
        from ..benchmark.compiled_baseline import against_bare

        with err.status("timing a bare torch.compile loop…"):
            compared = against_bare(models, options, report)
        rows = [(c.model, c.mode, str(c.batch_size), f"{c.harness_images_per_s:,.1f}", f"{c.bare_images_per_s:,.1f}",
                 f"{c.ratio:.3f}") for c in compared]  # fmt: skip
        headers = ("Model", "Mode", "Batch", "Harness img/s", "Bare compiled img/s", "Ratio")
        err.print(table("Against a bare torch.compile loop", headers, rows, 3))
    if earlier is not None:
        changes = compare_baseline(report, earlier)
        rows = [(c.model, c.mode, str(c.batch_size), f"{c.before:,.1f}", f"{c.after:,.1f}", f"{c.ratio:.3f}" if c.before else "—",
                 c.verdict) for c in changes]  # fmt: skip
        headers = ("Model", "Mode", "Batch", "Before img/s", "After img/s", "Ratio", "Verdict")
        err.print(table(f"Against {baseline}", headers, rows, 4))
