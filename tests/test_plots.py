"""Plots and wide tables as a person sees them: the saved image's size, metadata and texts; tables within COLUMNS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torchvision
from PIL import Image
from torch_ops import aten_op_counts

from cnnstat import analyze
from cnnstat.report.plots import comparison_figure
from cnnstat.training.artifacts import curves_figure, plot_curves
from cnnstat.training.metrics import EpochMetrics

SVG = "{http://www.w3.org/2000/svg}"


def _texts(path) -> list[str]:
    return ["".join(element.itertext()) for element in ET.parse(path).getroot().iter(f"{SVG}text")]


def test_compare_plot_is_one_readable_figure(cli, tmp_path) -> None:
    result = cli("compare", "lenet5", "resnet18", "--plot", str(tmp_path / "models.png"))
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "models.png") as image:
        assert image.format == "PNG"
        assert image.info["Title"] == "cnnstat compare lenet5 resnet18"
        assert image.width > image.height  # one landscape figure, not a column of stacked charts
        assert image.width * image.height < 1600 * 1000
    result = cli("compare", "lenet5", "resnet18", "--plot", str(tmp_path / "models.svg"))
    assert result.exit_code == 0, result.output
    texts = _texts(tmp_path / "models.svg")
    for expected in ("parameters (millions)", "MACs (billions)", "activation memory (MiB)", "share of the model's MACs (%)",
                     "model", "lenet5", "resnet18", "first stage", "MACs by stage, in order through the network"):  # fmt: skip
        assert expected in texts, expected
    assert any(text.startswith("lenet5 · resnet18") for text in texts)  # the title


def test_compare_plot_bars_are_torch_figures() -> None:
    """The panels share one axis and unit: each bar is the model's own parameter count, in millions."""
    import matplotlib.pyplot as plt

    models = [torchvision.models.resnet18(), torchvision.models.alexnet()]
    reports = [analyze(model, (3, 224, 224)) for model in models]
    figure = comparison_figure(reports)
    try:
        params_axis, macs_axis = figure.axes[0], figure.axes[1]
        heights = [bar.get_height() for bar in params_axis.patches]
        assert heights == pytest.approx([sum(p.numel() for p in m.parameters()) / 1e6 for m in models])
        assert params_axis.get_yscale() == macs_axis.get_yscale() == "log"
        stage_axis = figure.axes[3]
        per_model: dict[float, float] = {}
        for bar in stage_axis.patches:
            y = round(bar.get_y() + bar.get_height() / 2)
            per_model[y] = per_model.get(y, 0) + bar.get_width()
        assert list(per_model.values()) == pytest.approx([100, 100])  # each model's stages are its whole
        assert len([bar for bar in stage_axis.patches if round(bar.get_y() + bar.get_height() / 2) == 1]) >= 4
    finally:
        plt.close(figure)


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_curves_of_few_epochs_have_whole_epoch_ticks(tmp_path, epochs) -> None:
    import matplotlib.pyplot as plt

    metrics = [EpochMetrics(epoch=e, train_loss=1 / e, train_acc=0.5, val_loss=1 / e, val_acc=0.4, seconds=1.0,
                            images_per_s=1.0, lr=0.1) for e in range(1, epochs + 1)]  # fmt: skip
    figure = curves_figure(metrics, "a short run")
    try:
        for axis in figure.axes:
            ticks = [tick for tick in axis.get_xticks() if axis.get_xlim()[0] <= tick <= axis.get_xlim()[1]]
            assert ticks and all(tick == int(tick) for tick in ticks), ticks
            assert axis.get_xlabel() == "epoch" and axis.get_title() and axis.get_legend() is not None
    finally:
        plt.close(figure)
    with Image.open(plot_curves(tmp_path, metrics, "a short run")) as image:
        assert image.format == "PNG" and image.size == (1000, 400)


def test_compare_tables_fit_the_terminal_and_merge_functional_calls(cli) -> None:
    result = cli("compare", "alexnet", "resnet18", "googlenet")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 120  # the conftest's COLUMNS
    relu = [line for line in lines if line.strip("│ ").lower().startswith("relu")]
    assert len(relu) == 1  # googlenet calls F.relu, AlexNet and ResNet nn.ReLU: one type row
    calls = []
    for model in (torchvision.models.alexnet(), torchvision.models.resnet18(),
                  torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)):  # fmt: skip
        counts = aten_op_counts(model, (1, 3, 224, 224))
        calls.append(counts.get("relu", 0) + counts.get("relu_", 0))
    assert [int(cell) for cell in relu[0].split("│")[2:5]] == calls


def test_a_table_too_wide_for_the_terminal_abbreviates_its_numbers(cli) -> None:
    import json
    import re

    columns = "name,params,macs,flops,connections,neurons,backward_macs,activation_bytes,training_bytes"
    result = cli("summary", "resnet18", "--columns", columns)
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.splitlines() if line.startswith(("┏", "┃", "│", "└"))]
    assert max(len(line) for line in table) <= 120
    exact = json.loads(cli("summary", "resnet18", "--columns", columns, "-f", "json").stdout)["layers"]
    shown = next(line for line in table if line.startswith("│ conv1 "))
    cells = [cell.strip() for cell in shown.strip("│").split("│")]
    assert cells[2] == "118M" and exact[0]["macs"] == 118_013_952  # three significant digits of the JSON's exact figure
    assert all(re.fullmatch(r"[\d.]+[kMG]?|[\d.,]+ [KMG]?i?B", cell) for cell in cells[1:]), cells
