"""``cnnstat profile`` and ``cnnstat device``: per-layer time against the machine's measured roofline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..counting.columns import counted, human_bytes
from ..errors import CnnstatError
from ..report.text import table
from .app import BatchOpt, InputOpt, ModelArg, OutOpt, app, user_errors
from .output import Format, emit, stderr_console
from .train import DEFAULT_DEVICE_NAME, Device

SHOWN_BELOW_ROOF = 5

DtypeOpt = Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16: the model's weights and input.")]
ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="CPU threads; default: torch's own, as your runs use.")]
RemeasureOpt = Annotated[bool, typer.Option("--remeasure", help="Measure the machine's peaks again, not from the cache.")]


def _us(seconds: float) -> str:
    """Microseconds: whole ones from 1,000 up, three significant digits below (a bound on an H100 is nanoseconds)."""
    value = 1e6 * seconds
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def profile_table(report: Any) -> Any:
    """The per-layer table: time, its share against the FLOPs' share, floor, bound, rates, % of roof, doubts."""
    total_time = sum(row.time_s for row in report.rows) or 1.0
    total_flops = sum(row.flops for row in report.rows) or 1
    on = report.on
    rows = [
        (row.name, row.type, _us(row.time_s), f"{100 * row.time_s / total_time:.1f}%", f"{100 * row.flops / total_flops:.1f}%",
         human_bytes(row.bytes), f"{row.intensity:,.1f}", _us(row.floor_s), row.bound or "—", f"{row.achieved_gflops:,.1f}",
         f"{row.achieved_gbs:,.1f}", f"{100 * row.of_roof:.1f}%", f"{100 * row.spread:.0f}%" + (" !" if row.doubts else ""),
         *((_us(row.on_floor_s),) if on else ()))
        for row in report.rows
    ]  # fmt: skip
    headers = ("Layer", "Type", "Time µs", "Time share", "FLOP share", "Bytes moved", "FLOP/B", "Floor µs", "Bound",
               "GFLOP/s", "GB/s", "Of roof", "Spread", *((f"Bound on {on.key} µs",) if on else ()))  # fmt: skip
    title = (f"{report.model} · input {'×'.join(map(str, report.input_shape))} · {report.dtype} · {report.device} · "
             f"median of {report.repeats}" + (" · forward + backward" if report.train else ""))  # fmt: skip
    return table(title, headers, rows, len(headers) - 2)


def summary_lines(report: Any) -> list[str]:
    """Whole against the sum of layers, the layers furthest below their roof, and the doubts, for stderr."""
    whole = report.whole
    lines = [
        f"whole model, no instrumentation: {_us(whole.median)} µs (p10–p90 {_us(whole.p10)}–{_us(whole.p90)}); "
        f"sum of layers: {_us(report.layers_s)} µs; overhead {100 * report.overhead:+.1f}% (hooks and work between layers)",
        "furthest below their roof (time − floor): " + ", ".join(
            f"{row.name} {_us(row.time_s - row.floor_s)} µs ({100 * row.of_roof:.1f}% of roof, {row.bound})"
            for row in report.furthest_below_roof(SHOWN_BELOW_ROOF)),
    ]  # fmt: skip
    doubted = [row for row in report.rows if row.doubts]
    if doubted:
        reasons = sorted({reason for row in doubted for reason in row.doubts}, key=len)
        lines.append(f"{len(doubted)} of {len(report.rows)} layers too noisy to trust (marked !), e.g. {reasons[0]}")
    whole_doubts = report.whole_doubts()
    if whole_doubts:
        lines.append(f"whole-model time too noisy to trust: {'; '.join(whole_doubts)}")
    if report.on is not None:
        lines.append(f"'Bound on {report.on.key}': a floor from published peaks ({report.on.source}), not a measurement")
    not_cached = report.peaks.not_cached_line()
    if not_cached:
        lines.append(not_cached)
    lines += [f"note: {note}" for note in report.notes]
    return lines


@app.command()
@user_errors
def profile(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    device: Annotated[Device, typer.Option(help="auto picks CUDA, then MPS, then the CPU.")] = DEFAULT_DEVICE_NAME,  # type: ignore[valid-type]
    dtype: DtypeOpt = "float32",
    train: Annotated[bool, typer.Option("--train", help="Time each layer's backward too (training mode).")] = False,
    repeats: Annotated[int, typer.Option("--repeats", "-r", min=1, max=10_000, help="Timed passes; the median is shown.")] = 20,
    on: Annotated[
        str | None,
        typer.Option(
            "--on",
            help="Add each layer's floor on a published device (h100, a100, l4, rtx4090, m1max): a bound, not a measurement.",
        ),
    ] = None,
    depth: Annotated[int | None, typer.Option("--depth", "-d", min=1, help="Group layers into modules this deep.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="type: one row per layer type.")] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Only the first N rows (after --sort).")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="time, flops, bytes, below-roof or of-roof.")] = None,
    threads: ThreadsOpt = None,
    remeasure: RemeasureOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw the roofline chart into this file (PNG, SVG, PDF).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table, json or csv.")] = Format.table,
    out: OutOpt = None,
) -> None:
    """Time each layer on this device against its roofline floor: where the time goes, and why."""
    from ..counting.inputs import parse_input
    from ..profile.run import SORT_KEYS, by_depth, by_type, profile_model, sorted_rows

    if format is Format.markdown:
        raise CnnstatError("profile writes --format table, json or csv")
    if by not in (None, "type"):
        raise CnnstatError(f"--by {by!r}: the only grouping is 'type'")
    if sort is not None and sort not in SORT_KEYS:  # before minutes of timing, not after
        raise CnnstatError(f"unknown --sort {sort!r}; choose one of {', '.join(SORT_KEYS)}")
    if plot is not None:
        from ..atomic import check_file_writable

        if plot.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise CnnstatError(f"--plot {plot}: name a .png, .svg or .pdf file")
        check_file_writable(plot)
    specs = [parse_input(text) for text in input or []]
    if len(specs) > 1:
        raise CnnstatError("profile times models with one input: give one --input")
    err = stderr_console()
    with err.status("starting…") as status:
        report = profile_model(model, input_size=specs[0].shape if specs else None, batch=batch, device=device.value,
                               dtype=dtype, train=train, repeats=repeats, on=on, threads=threads, remeasure=remeasure,
                               progress=status.update)  # fmt: skip
    if plot is not None:
        from ..profile.plot import plot_roofline

        plot_roofline(report, plot)
    shown = by_type(report) if by == "type" else by_depth(report, depth) if depth else report
    shown = sorted_rows(shown, sort, top)
    emit(format, document={**report.to_dict(), "layers": [report.row_dict(r) for r in shown.rows]},
         rows=[report.row_dict(r) for r in shown.rows], renderables=[profile_table(shown)], out=out)  # fmt: skip
    for line in summary_lines(report):
        err.print(line, soft_wrap=True, markup=False)
    if plot is not None:
        err.print(f"roofline chart: {plot}", markup=False)


@app.command()
@user_errors
def device(
    device: Annotated[Device, typer.Option(help="auto picks CUDA, then MPS, then the CPU.")] = DEFAULT_DEVICE_NAME,  # type: ignore[valid-type]
    threads: ThreadsOpt = None,
    remeasure: RemeasureOpt = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """The machine's measured peaks (compute per dtype, bandwidth by working set) and how they were measured."""
    import torch

    from ..devices import select_device
    from ..profile.peaks import cache_path, machine_peaks

    if format not in (Format.table, Format.json):  # two tables of different columns: no one CSV or markdown table holds both
        raise CnnstatError(f"device writes --format table or json, not {format.value}")
    setup = select_device(device.value, amp=False, channels_last=False)
    threads = threads or torch.get_num_threads()
    err = stderr_console()
    with err.status("measuring…") as status:
        peaks = machine_peaks(setup, threads, remeasure, status.update)
    not_cached = peaks.not_cached_line()
    if format is Format.json:
        emit(Format.json, document=peaks.to_dict())
        if not_cached:
            err.print(not_cached, soft_wrap=True, markup=False)
        return
    threads_text = counted(peaks.threads, "thread")
    title = f"{peaks.device} · {threads_text} · torch {peaks.torch_version} · measured {peaks.measured_at}"
    if peaks.cpu_share is not None:
        title += f" with {100 * peaks.cpu_share:.0f}% of the CPU time its {threads_text} could use"
    compute = table(title, ("Dtype", "Kernel", "GFLOP/s"), [(c.dtype, c.kernel, f"{c.gflops:,.1f}") for c in peaks.compute], 1)
    levels = {level.name: level.size for level in peaks.caches}
    bandwidth = table("Bandwidth by working set (bytes read + written per pass)", ("Working set", "Fits in", "Kernel", "GB/s"),
                      [(human_bytes(b.working_set), _fits(b.working_set, levels), b.kernel, f"{b.gbytes_per_s:,.1f}")
                       for b in peaks.bandwidth], 1)  # fmt: skip
    emit(Format.table, renderables=[compute, bandwidth])
    err.print(f"how: {peaks.how}", soft_wrap=True, markup=False)
    where = f"cached in {cache_path(setup, threads)}; --remeasure measures again"
    err.print(not_cached or where, soft_wrap=True, markup=False)


def _fits(size: int, levels: dict[str, int]) -> str:
    """The smallest cache a working set fits in, else memory; "—" on a GPU, whose caches are not known here."""
    if not levels:
        return "—"
    return next((name for name, capacity in sorted(levels.items(), key=lambda item: item[1]) if size <= capacity), "memory")


def latency_table(rows: list[dict[str, Any]]) -> Any:
    """``compare --profile``: each model's measured forward latency and throughput on this machine."""
    cells = [(row["model"], row["timing_doubts"] or "—", f"{row['latency_ms']:,.3f}",
              f"{row['latency_p10_ms']:,.3f}–{row['latency_p90_ms']:,.3f}", f"{row['images_per_s']:,.1f}") for row in rows]  # fmt: skip
    return table(
        "Measured forward on this machine", ("Model", "Too noisy to trust", "Latency ms", "p10–p90 ms", "Images/s"), cells, 3
    )
