"""The roofline chart: arithmetic intensity against achieved GFLOP/s, on log-log axes, with matplotlib.

A horizontal compute roof per measured dtype; a sloped bandwidth roof per cache level (the curve read
at the level's size) and for memory (its largest working set); a dot per layer, its area its share of
the time, the costliest few labelled.
"""

from __future__ import annotations

from pathlib import Path

from .run import ProfileReport

LABELLED = 6


def plot_roofline(report: ProfileReport, path: Path) -> None:
    """Draw ``report``'s roofline into ``path`` (PNG, SVG or PDF, by its suffix)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart goes to a file
    import matplotlib.pyplot as plt

    rows = [row for row in report.rows if row.flops and row.bytes and row.time_s]
    peaks = report.peaks
    intensities = [row.intensity for row in rows] or [1.0]
    low, high = min(intensities + [0.01]) / 2, max(intensities + [1000.0]) * 2
    figure, axes = plt.subplots(figsize=(9, 6))
    for compute in peaks.compute:
        axes.axhline(compute.gflops, linestyle="--", linewidth=1, color="grey")
        axes.annotate(f"{compute.dtype} peak {compute.gflops:,.0f} GFLOP/s", (high, compute.gflops), ha="right",
                      va="bottom", fontsize=8)  # fmt: skip
    top = peaks.compute_gflops(report.dtype)
    roofs = [(level.name, level.size) for level in peaks.caches] + [("memory", peaks.bandwidth[-1].working_set)]
    for name, size in roofs:
        bandwidth = peaks.bandwidth_at(size)
        ridge = top / bandwidth
        xs = [low, ridge]
        axes.plot(xs, [bandwidth * x for x in xs], linewidth=1)
        axes.annotate(f"{name} {bandwidth:,.0f} GB/s", (low * 1.2, bandwidth * low * 1.2), fontsize=8, rotation=30)
    total = sum(row.time_s for row in rows) or 1.0
    axes.scatter([row.intensity for row in rows], [row.achieved_gflops for row in rows],
                 s=[2000 * row.time_s / total + 5 for row in rows], alpha=0.6, color="tab:red")  # fmt: skip
    for row in sorted(rows, key=lambda r: r.time_s, reverse=True)[:LABELLED]:
        axes.annotate(row.name, (row.intensity, row.achieved_gflops), fontsize=8, xytext=(4, 4), textcoords="offset points")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(low, high)
    axes.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    axes.set_ylabel("achieved GFLOP/s")
    axes.set_title(f"{report.model} · batch {report.input_shape[0]} · {report.dtype} · {report.device}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
