"""The comparison figure of ``compare --plot``: models side by side on shared axes, and where each spends its MACs.

One figure, readable at a glance: a panel per figure (parameters, MACs, activation memory) with one bar per
model on one log axis and one unit, and below them each model's MACs split by stage, as percentages, so
five models of a thousandfold range of sizes sit on the same scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..counting.columns import COLUMN

if TYPE_CHECKING:
    from ..counting.report import LayerCounts, Report

#: The panels of the top row: a summed figure of the column registry, its axis label and the divisor of its unit.
PANELS = (("params", "parameters (millions)", 1e6), ("macs", "MACs (billions)", 1e9),
          ("activation_bytes", "activation memory (MiB)", 2**20))  # fmt: skip
_MIN_STAGES = 4  # fewer stages than this (AlexNet's features, avgpool, classifier) say too little: look a level deeper


def stages(report: Report) -> list[LayerCounts]:
    """A model's stages: its top-level modules, or the level below where the top has fewer than four that compute."""
    from ..counting.views import by_depth

    rows: list[LayerCounts] = []
    for depth in (1, 2, 3):
        rows = [row for row in by_depth(report, depth).layers if row.macs]
        if len(rows) >= _MIN_STAGES:
            break
    return rows


def comparison_figure(reports: list[Report], latencies_ms: list[float] | None = None) -> Any:
    """The matplotlib figure: a top row of shared-axis panels, one bar per model (and its measured forward latency,
    where given); below, the MACs by stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [report.model for report in reports]
    colours = [plt.get_cmap("tab10")(index % 10) for index in range(len(reports))]
    figure = plt.figure(figsize=(12, 4.2 + 0.45 * len(reports)), layout="constrained")
    panels = [(COLUMN[name].header, label, [report.totals[name] / unit for report in reports]) for name, label, unit in PANELS]
    if latencies_ms is not None:
        panels.append(("Forward latency (measured)", "latency (ms)", latencies_ms))
    grid = figure.add_gridspec(2, len(panels), height_ratios=(1.1, 0.35 + 0.12 * len(reports)))
    for column, (title, label, values) in enumerate(panels):
        axis = figure.add_subplot(grid[0, column])
        bars = axis.bar(range(len(reports)), values, color=colours, label=names)
        axis.set_yscale("log")
        axis.set_xticks(range(len(reports)), names, rotation=30, ha="right", fontsize=8)
        axis.set_ylabel(label)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3, which="both")
        for bar, value in zip(bars, values, strict=True):
            axis.annotate(f"{value:.3g}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=7)
    figure.legend(bars, names, title="model", fontsize=8, title_fontsize=8, loc="outside right upper")
    _stage_panel(figure.add_subplot(grid[1, :]), reports)
    figure.suptitle(f"{' · '.join(names)}: size and cost (input as counted; FLOPs convention {reports[0].convention})")
    return figure


def _stage_panel(axis: Any, reports: list[Report]) -> None:
    """Each model's MACs by stage as one bar of percentages, stages in order from dark to light, named where wide enough."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shades = plt.get_cmap("viridis")
    for index, report in enumerate(reports):
        rows = stages(report)
        total = sum(row.macs for row in rows) or 1
        start = 0.0
        for order, row in enumerate(rows):
            share = 100 * row.macs / total
            colour = shades(0.1 + 0.8 * order / max(len(rows) - 1, 1))
            axis.barh(index, share, left=start, color=colour, edgecolor="white", linewidth=0.5)
            if share >= 7:
                axis.text(start + share / 2, index, row.name, ha="center", va="center", fontsize=6,
                          color="white" if order < len(rows) / 2 else "black")  # fmt: skip
            start += share
    axis.set_yticks(range(len(reports)), [report.model for report in reports], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel("share of the model's MACs (%)")
    axis.set_title("MACs by stage, in order through the network")
    axis.legend(handles=[Patch(color=shades(0.1), label="first stage"), Patch(color=shades(0.9), label="last stage")],
                fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)  # fmt: skip


def save_figure(figure: Any, path: Path, title: str) -> None:
    """Write ``figure`` as PNG, SVG (text kept as text) or PDF, atomically, with ``title`` in its metadata."""
    import matplotlib.pyplot as plt

    from ..atomic import atomic_path

    suffix = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as temporary, plt.rc_context({"svg.fonttype": "none"}):
        figure.savefig(temporary, dpi=100, format=suffix, metadata={"Title": title})
    plt.close(figure)
