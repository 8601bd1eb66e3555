"""Views of a report (--depth, --by type, --sort/--top, --columns), compare, and the generated command reference."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.counting import views
from cnnstat.counting.columns import ROW_COLUMNS


def _resnet50_on_meta() -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
    """torchvision's ResNet-50 run on meta: FlopCounterMode's FLOPs and the output shape of every module."""
    model = torchvision.models.resnet50().to("meta")
    shapes: dict[str, tuple[int, ...]] = {}

    def keep_shape(name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: object, output: torch.Tensor) -> None:
            shapes[name] = tuple(output.shape)

        return hook

    for name, module in model.named_modules():
        module.register_forward_hook(keep_shape(name))
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    flops = {key.removeprefix("ResNet."): sum(ops.values()) for key, ops in counter.get_flop_counts().items()}
    return flops, shapes


def test_grouping_by_depth_names_the_modules_and_gives_each_what_torch_counts_in_it():
    report = cnnstat.analyze("resnet50")
    flops, shapes = _resnet50_on_meta()
    checked = []
    for depth in (1, 2):
        for row in views.by_depth(report, depth).layers:
            if row.name == row.module:  # a module's row (a call outside modules, such as flatten, keeps its own name)
                assert 2 * row.macs == flops.get(row.module, 0), row.name
                assert row.output_shape == shapes[row.module], row.name
                checked.append(row.name)
    assert {"layer3", "layer3.5", "fc"} <= set(checked)
    grouped = views.by_depth(report, 1)
    assert [row.name for row in grouped.layers] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                                                   "avgpool", "flatten", "fc"]  # fmt: skip
    assert next(row for row in grouped.layers if row.name == "layer3").type == "Sequential"


def test_grouping_by_type_counts_calls_and_their_parameters():
    report = cnnstat.analyze("resnet50")
    model = torchvision.models.resnet50()
    convs = [module for module in model.modules() if isinstance(module, torch.nn.Conv2d)]
    by_type = {row.name: row for row in views.by_type(report).layers}
    assert by_type["Conv2d"].type == f"{len(convs)} calls" and by_type["Linear"].type == "1 call"
    assert by_type["Conv2d"].params == sum(p.numel() for conv in convs for p in conv.parameters())
    # the calls of a type are scattered over the model: no one output or receptive field is theirs
    assert by_type["Conv2d"].output_shape is None and by_type["Conv2d"].receptive_field is None and by_type["Conv2d"].called


def test_json_of_a_view_describes_the_whole_model(cli):
    """The rows are the view's; depth, uncounted ops and the receptive field are the model's."""
    full = cnnstat.analyze("lenet5")
    for args in (("--top", "2"), ("--by", "type"), ("--depth", "1"), ("--sort", "share", "--top", "1")):
        document = json.loads(cli("flops", "lenet5", *args, "-f", "json").stdout)
        assert document["depth"] == full.depth == 7, args
        assert document["receptive_field"] == [32, 32] and document["totals"] == full.totals, args
    top = json.loads(cli("flops", "lenet5", "--sort", "share", "--top", "1", "-f", "json", "--columns", "name,share").stdout)
    c3 = next(row for row in full.layers if row.name == "C3")
    assert top["layers"] == [{"name": "C3", "share": c3.flops / full.totals["flops"]}]


def test_the_costliest_layers(cli):
    document = json.loads(cli("flops", "vgg16", "--sort", "macs", "--top", "3", "-f", "json").stdout)
    full = cnnstat.analyze("vgg16")
    expected = sorted((row.macs for row in full.layers), reverse=True)[:3]
    assert [row["macs"] for row in document["layers"]] == expected
    assert document["totals"]["macs"] == full.totals["macs"]  # the whole model's totals, not the three rows'
    assert "cannot sort by 'nothing'" in cli("flops", "vgg16", "--sort", "nothing").output


def test_columns_pick_what_the_table_shows(cli):
    table = cli("summary", "lenet", "--columns", "name,receptive_field,backward_macs").output
    header = next(line for line in table.splitlines() if "Layer" in line)
    assert "Receptive field" in header and "Backward MACs" in header and "Params" not in header
    assert "unknown column nope" in cli("summary", "lenet", "--columns", "name,nope").output
    empty = cli("summary", "lenet", "--columns", ",")
    assert empty.exit_code == 1 and "names no column" in empty.output


def test_the_dataframe_has_every_figure_as_a_column():
    frame = cnnstat.analyze("lenet5").to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 12
    assert list(frame.columns) == [column.name for column in ROW_COLUMNS]
    # LeCun et al. 1998: C1 has 156 trainable parameters and 122,304 connections
    c1 = frame.set_index("name").loc["C1"]
    assert c1["params"] == 156 and c1["connections"] == 122_304 and c1["output_shape"] == [1, 6, 28, 28]


def test_compare_puts_models_side_by_side_and_plots_their_stages(cli, tmp_path):
    plot = tmp_path / "stages.png"
    result = cli("compare", "lenet5", "lenet5-1998", "-f", "json", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.stdout)}
    assert rows["lenet5-1998"]["params"] == 60_840 and rows["lenet5"]["params"] == 61_750
    assert rows["lenet5"]["receptive_field"] == [32, 32] and rows["lenet5"]["depth"] == 7
    assert rows["lenet5"]["macs"] == cnnstat.analyze("lenet5").totals["macs"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "name a .png" in cli("compare", "lenet5", "--plot", str(tmp_path / "x.txt")).output
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = cli("compare", "lenet5", "--plot", str(blocker / "stages.png"))
    assert unwritable.exit_code == 1 and "is a file" in unwritable.output and "lenet5" not in unwritable.stdout  # before any table


def test_compare_shows_where_two_builds_differ_by_layer_type(cli):
    output = cli("compare", "lenet5", "lenet5-1998").output
    tables: dict[str, dict[str, list[str]]] = {}  # "Calls", "Parameters", "MACs" by layer type: a column per model
    for line in output.splitlines():
        if line.rstrip().endswith("by layer type"):
            rows = tables.setdefault(line.split(" by layer type")[0].strip(), {})
        elif line.startswith("│") and tables:
            cells = [c.strip() for c in line.strip("│ ").split("│")]
            rows[cells[0]] = cells[1:]
    # the sparse C3 and the RBF output exist only in the 1998 build; its C3 costs 240,000 MACs with 1,516 weights
    assert tables["Calls"]["ConnectionTableConv2d"] == ["0", "1"]
    assert tables["Parameters"]["ConnectionTableConv2d"] == ["0", "1,516"]
    assert tables["MACs"]["ConnectionTableConv2d"] == ["0", "240,000"]
    assert tables["Calls"]["EuclideanRBF"][0] == "0" and tables["Calls"]["Sigmoid"][1] == "0"
    full = {name: cnnstat.analyze(name) for name in ("lenet5", "lenet5-1998")}
    convs = [f"{sum(row.macs for row in report.layers if row.type == 'Conv2d'):,}" for report in full.values()]
    assert tables["MACs"]["Conv2d"] == convs


def test_the_command_reference_is_up_to_date():
    from cnnstat.cli.reference import reference

    documented = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    assert reference() == documented, "docs/cli.md is out of date: run python -m cnnstat.cli.reference > docs/cli.md"
