"""The data-flow graph of a report: a node per layer call (or per module at a depth), edges as values flow.

The trace numbers every tensor value (``TensorMeta.value``) and an in-place op gives its tensor a new
number, so a value has exactly one producer: the row whose op wrote it, or the model's input. A row
reads a value another row wrote: that is an edge. A row that reads values of two or more other rows
is a *join* (a residual addition, a concatenation). Imports no torch and no networkx until asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx

    from .report import LayerCounts, Report


@dataclass(frozen=True)
class Node:
    """A layer call (or a group of them), a model input or a model output."""

    id: str  # "layer-3", "input-0", "output-0"
    kind: str  # "layer", "input" or "output"
    name: str
    type: str
    output_shape: tuple[int, ...] | None
    join: bool = False  # reads the values of two or more other nodes
    row: LayerCounts | None = field(default=None, repr=False, compare=False)  # the report's row, for a layer


@dataclass(frozen=True)
class Edge:
    """A value that flows from one node to another: its shape, and how many values take that path."""

    source: str
    target: str
    shape: tuple[int, ...] | None
    values: int = 1


@dataclass(frozen=True)
class Graph:
    """Nodes in the order the rows ran, and the edges between them."""

    nodes: list[Node]
    edges: list[Edge]

    @property
    def layers(self) -> list[Node]:
        """The nodes of rows: one per row of the report it was drawn from."""
        return [node for node in self.nodes if node.kind == "layer"]

    @property
    def joins(self) -> list[Node]:
        return [node for node in self.nodes if node.join]

    def to_networkx(self) -> nx.DiGraph:
        """A ``networkx.DiGraph``: node attributes kind, name, type, output_shape, join and the row's figures."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self.nodes:
            attributes = node.row.row() if node.row is not None else {}
            attributes.update(kind=node.kind, name=node.name, type=node.type, output_shape=node.output_shape, join=node.join)
            graph.add_node(node.id, **attributes)
        for edge in self.edges:
            graph.add_edge(edge.source, edge.target, shape=edge.shape, values=edge.values)
        return graph


def data_flow_graph(report: Report, depth: int | None = None) -> Graph:
    """The graph of ``report``'s rows, or of its modules ``depth`` levels deep (``views.by_depth``)."""
    if depth is not None:
        from .views import by_depth  # views imports report, which imports this module

        report = by_depth(report, depth)
    producer: dict[int, str] = {}
    shapes: dict[int, tuple[int, ...]] = {}
    nodes: list[Node] = []
    for index, (path, meta) in enumerate(report.inputs):
        nodes.append(Node(f"input-{index}", "input", path or "input", "input", meta.shape))
        if meta.value is not None:
            producer[meta.value] = f"input-{index}"
            shapes[meta.value] = meta.shape
    edges: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(report.layers):
        node_id = f"layer-{index}"
        sources: set[str] = set()
        for counted in row.ops:
            for tensor in counted.record.input_tensors():
                source = producer.get(tensor.value) if tensor.value is not None else None
                if source is not None and source != node_id:
                    sources.add(source)
                    edges.setdefault((source, node_id), []).append(tensor.value)  # type: ignore[arg-type]
            for tensor in counted.record.outputs:
                if tensor.value is not None:
                    producer[tensor.value] = node_id
                    shapes[tensor.value] = tensor.shape
        nodes.append(Node(node_id, "layer", row.name, row.type, row.output_shape, len(sources) > 1, row))
    for index, (path, meta) in enumerate(report.outputs):
        node_id = f"output-{index}"
        nodes.append(Node(node_id, "output", path or "output", "output", meta.shape))
        source = producer.get(meta.value) if meta.value is not None else None
        if source is not None:
            edges.setdefault((source, node_id), []).append(meta.value)  # type: ignore[arg-type]
    return Graph(nodes, [Edge(source, target, shapes.get(values[-1]), len(set(values)))
                         for (source, target), values in edges.items()])  # fmt: skip


def share_of(graph: Graph, figure: str) -> dict[str, float]:
    """Each layer node's part of the report's total of ``figure`` (0 where the total is 0)."""
    values: dict[str, Any] = {node.id: getattr(node.row, figure) for node in graph.layers}
    total = sum(values.values())
    return {key: (value / total if total else 0.0) for key, value in values.items()}
