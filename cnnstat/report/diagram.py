"""The data-flow diagram: the report's graph laid out by Graphviz ``dot``, nodes shaded by their share of a figure.

Each layer node says its name, type, output shape, parameters and the chosen figure; joins (a residual
addition, a concatenation) are ellipses; a legend maps the shading to shares. The choice of figure comes
from the column registry: any summed count or size a report carries (MACs, FLOPs, parameters, bytes …), or
``time``, the per-layer time ``cnnstat profile`` measured, where a profile is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..counting.columns import COLUMN, SUMMED, Unit
from ..counting.records import format_shape
from ..errors import CnnstatError, OutputError

if TYPE_CHECKING:
    import graphviz

    from ..counting.graph import Graph, Node
    from ..counting.report import Report
    from ..profile.run import ProfileReport

#: The file kinds ``render`` writes: Graphviz's own source, or what ``dot`` makes of it.
FORMATS = ("svg", "png", "pdf", "dot")
_SHADE = (214, 96, 77)  # the darkest fill, for the node with the largest share
_LEGEND_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: The measured figure: no report column, it comes from a profile (``cnnstat profile``).
TIME = "time"


def figure_choices() -> tuple[str, ...]:
    """The figures a diagram can shade by: every summed count or size of the column registry."""
    return tuple(name for name in SUMMED if COLUMN[name].unit in (Unit.COUNT, Unit.BYTES))


def check_figure(figure: str, timed: bool = False) -> None:
    """Refuse a figure the reports do not carry: ``time`` where no profile measured it, a typo."""
    if figure == TIME and not timed:
        raise CnnstatError("--color time shades by measured per-layer time: add --profile to time each layer")
    if figure != TIME and figure not in figure_choices():
        raise CnnstatError(f"no per-layer figure {figure!r} to shade by; choose from {', '.join((*figure_choices(), TIME))}")


def _header(figure: str) -> str:
    return "time" if figure == TIME else COLUMN[figure].header


def _written(figure: str, value: float) -> str:
    return f"{1000 * value:,.3f} ms" if figure == TIME else COLUMN[figure].format(value)


def node_times(report: Report, graph: Graph, profile: ProfileReport) -> dict[str, float]:
    """Each layer node's measured seconds: its row's profile time, or at ``--depth`` the sum of its group's rows."""
    from ..check.comparison import call_keys

    measured = dict(zip(call_keys(row.name for row in profile.rows), (row.time_s for row in profile.rows), strict=True))
    keys = call_keys(layer.name for layer in report.layers)
    times = {id(layer): measured.get(key, 0.0) for layer, key in zip(report.layers, keys, strict=True)}
    result = {}
    for node in graph.layers:
        if id(node.row) in times:  # a row of the report itself
            result[node.id] = times[id(node.row)]
        else:  # a module's rows merged by ``views.by_depth``: the rows under that module
            prefix = node.row.module  # type: ignore[union-attr]
            result[node.id] = sum(times[id(layer)] for layer in report.layers
                                  if layer.module == prefix or layer.module.startswith(prefix + "."))  # fmt: skip
    return result


def _fill(fraction: float) -> str:
    """White for none of the largest share, the darkest shade for all of it."""
    red, green, blue = (round(255 - (255 - c) * fraction) for c in _SHADE)
    return f"#{red:02x}{green:02x}{blue:02x}"


def _label(node: Node, figure: str, value: float, share: float) -> str:
    shape = format_shape(node.output_shape)
    if node.row is None:
        return f"{node.name}\n{shape}"
    if node.join:
        return f"{node.type}\n{shape}"
    lines = [node.name, f"{node.type} · {shape}"]
    if node.row.params:
        lines.append(f"{COLUMN['params'].format(node.row.params)} params")
    lines.append(f"{_header(figure)} {_written(figure, value)} ({100 * share:.1f}%)")
    return "\n".join(lines)


def diagram(report: Report, *, depth: int | None = None, figure: str = "macs",
            profile: ProfileReport | None = None) -> graphviz.Digraph:  # fmt: skip
    """The Graphviz graph of ``report`` (its modules ``depth`` levels deep), shaded by each node's share of ``figure``
    (``time``: of the per-layer times ``profile`` measured)."""
    import graphviz

    from ..counting.graph import data_flow_graph, share_of

    check_figure(figure, timed=profile is not None)
    graph: Graph = data_flow_graph(report, depth)
    if figure == TIME:
        values = node_times(report, graph, profile)  # type: ignore[arg-type]
        total = sum(values.values())
        shares = {key: (value / total if total else 0.0) for key, value in values.items()}
    else:
        values = {node.id: getattr(node.row, figure) for node in graph.layers}
        total = report.totals[figure]
        shares = share_of(graph, figure)
    largest = max(shares.values(), default=0.0) or 1.0
    dot = graphviz.Digraph(report.model, graph_attr={"rankdir": "TB", "fontname": "Helvetica", "nodesep": "0.25",
                                                     "ranksep": "0.3", "label": _title(report, depth, figure, total),
                                                     "labelloc": "t", "fontsize": "16"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled,rounded"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#555555"})  # fmt: skip
    for node in graph.nodes:
        share = shares.get(node.id, 0.0)
        attributes = {"id": node.id, "class": f"{node.kind}{' join' * node.join}", "fillcolor": _fill(share / largest)}
        if node.kind != "layer":
            attributes.update(shape="invhouse" if node.kind == "input" else "house", fillcolor="#dddddd")
        elif node.join:
            attributes.update(shape="ellipse", style="filled")
        else:
            attributes.update(shape="box", tooltip=f"{node.name}: {100 * share:.2f}% of {_header(figure)}")
        dot.node(node.id, _label(node, figure, values.get(node.id, 0), share), **attributes)
    for edge in graph.edges:
        dot.edge(edge.source, edge.target, label=f" {format_shape(edge.shape)}" if edge.shape else "")
    _legend(dot, figure, largest)
    return dot


def _title(report: Report, depth: int | None, figure: str, total: float) -> str:
    grouped = f" · modules {depth} deep" if depth is not None else ""
    measured = " measured layer by layer" if figure == TIME else ""
    return f"{report.model}{grouped} · {_header(figure)}{measured} {_written(figure, total)} · shaded by share"


def _legend(dot: graphviz.Digraph, figure: str, largest: float) -> None:
    """A row of swatches from no share to the largest one, as one HTML-like label."""
    cells = "".join(f'<TD BGCOLOR="{_fill(step)}" WIDTH="42">{100 * step * largest:.1f}%</TD>' for step in _LEGEND_STEPS)
    label = (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3"><TR><TD COLSPAN="{len(_LEGEND_STEPS)}">'
             f"share of {_header(figure)}</TD></TR><TR>{cells}</TR></TABLE>>")  # fmt: skip
    dot.node("legend", label, id="legend", shape="plaintext", style="", fontsize="9")


def render_bytes(dot: graphviz.Digraph, kind: str) -> bytes:
    """The diagram as ``kind`` (svg, png, pdf, or dot source); a missing Graphviz is one clear error."""
    import graphviz

    if kind == "dot":
        return dot.source.encode()
    try:
        return dot.pipe(format=kind)
    except graphviz.ExecutableNotFound:
        raise OutputError("Graphviz's `dot` program is not installed (apt install graphviz, brew install graphviz); "
                          "--out net.dot writes the graph without it") from None  # fmt: skip
    except graphviz.CalledProcessError as error:
        raise OutputError(f"Graphviz's `dot` failed: {error.stderr.decode(errors='replace').strip()}") from None
