"""The data-flow graph against torch's own view of the network: its aten ops, torch.fx's graph, its modules."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch
import torchvision
from torch_ops import aten_op_counts
from torchvision.models.googlenet import Inception

from cnnstat import analyze
from cnnstat.counting.graph import data_flow_graph

SVG = "{http://www.w3.org/2000/svg}"


def test_resnet18_has_one_join_per_residual_addition() -> None:
    model = torchvision.models.resnet18()
    graph = analyze(model, (3, 224, 224)).graph
    additions = sum(count for op, count in aten_op_counts(model, (1, 3, 224, 224)).items() if op in ("add", "add_"))
    assert additions == 8  # two BasicBlocks in each of four stages
    assert len(graph.joins) == additions
    assert all(node.type.startswith("add") for node in graph.joins)


def test_googlenet_has_one_join_per_concatenation() -> None:
    model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    graph = analyze(model, (3, 224, 224)).graph
    blocks = sum(isinstance(m, Inception) for m in model.modules())
    assert blocks == 9
    assert aten_op_counts(model, (1, 3, 224, 224))["cat"] == blocks
    assert len(graph.joins) == blocks
    nx_graph = graph.to_networkx()
    assert all(nx_graph.in_degree(node.id) == 4 for node in graph.joins)  # an Inception block's four branches


def test_module_edges_are_torch_fx_edges() -> None:
    """Between module calls, the graph's edges are those of torch.fx's symbolic trace of the same network."""
    model = torchvision.models.resnet18()
    traced = torch.fx.symbolic_trace(model)
    expected = {(str(arg.target), str(node.target)) for node in traced.graph.nodes if node.op == "call_module"
                for arg in node.all_input_nodes if arg.op == "call_module"}  # fmt: skip
    graph = analyze(model, (3, 224, 224)).graph
    by_id = {node.id: node for node in graph.nodes}
    found = {(by_id[e.source].name, by_id[e.target].name) for e in graph.edges
             if by_id[e.source].row is not None and by_id[e.target].row is not None
             and by_id[e.source].row.is_module and by_id[e.target].row.is_module}  # fmt: skip
    assert found == expected


def test_networkx_graph_runs_from_the_input_to_the_output() -> None:
    import networkx as nx

    report = analyze("lenet5")
    graph = report.graph.to_networkx()
    assert nx.is_directed_acyclic_graph(graph)
    assert len([n for n, kind in graph.nodes(data="kind") if kind == "layer"]) == len(report.layers)
    path = nx.shortest_path(graph, "input-0", "output-0")
    assert len(path) == len(report.layers) + 2  # LeNet-5 is a chain: every layer lies on the one path
    assert graph.nodes["layer-0"]["macs"] == report.layers[0].macs


def test_depth_gives_one_node_per_top_level_module() -> None:
    model = torchvision.models.resnet50()
    graph = data_flow_graph(analyze(model, (3, 224, 224)), depth=1)
    # every child module runs once, and forward calls torch.flatten between avgpool and fc
    assert [node.name for node in graph.layers] == [name for name, _ in model.named_children()][:-1] + ["flatten", "fc"]
    assert not graph.joins  # a stage's residual additions are inside it


def _svg_nodes(path) -> list[str]:
    root = ET.parse(path).getroot()
    return [g.get("class", "") for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]


def test_cli_draws_one_node_per_layer_and_group(cli, tmp_path) -> None:
    report = analyze("lenet5")
    result = cli("graph", "lenet5", "--out", str(tmp_path / "net.svg"))
    assert result.exit_code == 0, result.output
    classes = _svg_nodes(tmp_path / "net.svg")
    assert sum("layer" in c.split() for c in classes) == len(report.layers)
    assert sum("input" in c.split() for c in classes) == 1 and sum("output" in c.split() for c in classes) == 1
    text = (tmp_path / "net.svg").read_text()
    assert "share of MACs" in text  # the legend
    result = cli("graph", "resnet18", "--depth", "1", "--color", "params", "--out", str(tmp_path / "net.png"))
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(tmp_path / "net.png") as image:
        assert image.format == "PNG" and image.height > image.width > 100


def test_cli_dot_source_and_pdf(cli, tmp_path) -> None:
    assert cli("graph", "lenet5", "--out", str(tmp_path / "net.dot")).exit_code == 0
    assert (tmp_path / "net.dot").read_text().startswith("digraph")
    assert cli("graph", "lenet5", "--out", str(tmp_path / "net.pdf")).exit_code == 0
    assert (tmp_path / "net.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("--color", "time"), 1, "add --profile"),
        (("--color", "joules"), 1, "no per-layer figure 'joules'"),
        (("--out", "net.txt"), 2, "name a .svg"),
    ],
)
def test_cli_refuses_with_one_line(cli, tmp_path, monkeypatch, args, code, says) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("graph", "lenet5", "--out", "net.svg", *args)
    assert result.exit_code == code
    assert says in result.output and "Traceback" not in result.output


def test_missing_graphviz_is_one_line(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no dot on it
    result = cli("graph", "lenet5", "--out", str(tmp_path / "net.svg"))
    assert result.exit_code == 1
    assert "Graphviz's `dot` program is not installed" in result.output and "Traceback" not in result.output
    assert cli("graph", "lenet5", "--out", str(tmp_path / "net.dot")).exit_code == 0  # the source needs no dot


def _fills(svg: bytes) -> dict[str, str]:
    """Each layer node's id and its fill colour, as Graphviz drew it."""
    root = ET.fromstring(svg)
    return {g.get("id"): next(shape.get("fill") for shape in g.iter() if shape.get("fill") not in (None, "none"))
            for g in root.iter(f"{SVG}g") if "layer" in g.get("class", "").split()}  # fmt: skip


def test_time_shading_marks_the_layer_the_profile_measured_slowest() -> None:
    from cnnstat.profile.run import profile_model
    from cnnstat.report.diagram import diagram, render_bytes

    report = analyze("lenet5")
    profile = profile_model("lenet5", repeats=3)
    fills = _fills(render_bytes(diagram(report, figure="time", profile=profile), "svg"))
    assert len(fills) == len(report.layers)
    darkest = min(fills, key=lambda node: sum(int(fills[node][i : i + 2], 16) for i in (1, 3, 5)))
    names = {node.id: node.name for node in report.graph.layers}
    assert names[darkest] == max(profile.rows, key=lambda row: row.time_s).name


def test_cli_profile_shades_by_time(cli, tmp_path) -> None:
    result = cli("graph", "lenet5", "--profile", "--color", "time", "--depth", "1", "--out", str(tmp_path / "net.svg"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "net.svg").read_text()
    assert "share of time" in text and " ms " in text
    assert sum("layer" in c.split() for c in _svg_nodes(tmp_path / "net.svg")) == len(data_flow_graph(analyze("lenet5"), 1).layers)
