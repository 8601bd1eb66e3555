"""The zoo: published figures, the paper tables, and shapes equal to torch's own forward pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnstat
from cnnstat.check import AGREES, EXPLAINED
from cnnstat.check.references import check_paper
from cnnstat.errors import ModelLoadError, UnknownModelError
from cnnstat.zoo import get_entry, list_models, resolve_model, torchvision_figures

ZOO = list_models()


def test_zoo_lists_the_issue_models_and_filters_with_wildcards():
    assert set(ZOO) >= {"lenet5", "lenet5-1998", "lenet-fashion", "fashion-cnn", "alexnet", "vgg16", "googlenet", "resnet50"}
    assert list_models("res*") == ["resnet50", "resnet50-2015"]
    assert get_entry("lenet").name == "lenet5"


@pytest.mark.parametrize("name", ZOO)
def test_every_parameter_lands_in_exactly_one_row(name):
    module = resolve_model(name).module
    report = cnnstat.analyze(name)
    assert report.totals["params"] == sum(p.numel() for p in module.parameters())
    assert report.totals["trainable_params"] == sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", [n for n in ZOO if get_entry(n).torchvision_name])
def test_torchvision_classics_match_torchvisions_published_figures(name):
    figures = torchvision_figures(get_entry(name).torchvision_name)
    totals = cnnstat.analyze(name).totals
    assert totals["params"] == int(figures.num_params.value)  # torchvision prints num_params exactly
    assert f"{totals['macs'] / 1e9:.3f}" == figures.gflops.printed  # and its MACs as GFLOPS to 3 decimals


@pytest.mark.parametrize("name", [n for n in ZOO if get_entry(n).published])
def test_every_figure_the_source_printed_comes_out(name):
    """Each printed figure agrees at the precision printed, or is explained by named rules (test_classics checks each
    rule's own count against the real model, FlopCounterMode and the printed tables)."""
    entry = get_entry(name)
    comparisons = check_paper(entry, cnnstat.analyze(name))
    assert len(comparisons) == len(entry.published)
    for figure, comparison in zip(entry.published, comparisons, strict=True):
        assert comparison.verdict in (AGREES, EXPLAINED), (figure, comparison)
        assert comparison.verdict == AGREES or (comparison.rules and comparison.theirs == figure.value), (figure, comparison)


def test_the_hand_counts_closed_form_equals_the_true_count_without_padding():
    for layer in cnnstat.analyze("lenet5").layers:
        assert layer.formula_connections == layer.connections
        if layer.neurons:  # conv, subsampling and fully connected layers: lenet FLOPs are their connections
            assert layer.flops == layer.connections


def test_lenet5_1998_totals_match_the_paper():
    totals = cnnstat.analyze("lenet5-1998").totals
    assert totals["trainable_params"] == 60_000
    assert totals["connections"] == 340_908
    assert totals["params"] - totals["trainable_params"] == 840  # the fixed RBF centres


def test_lenet5_1998_c3_follows_table_one():
    model = resolve_model("lenet5-1998", on_meta=False).module
    dense = model.C3.dense_weight()
    reads = (dense.abs().sum(dim=(2, 3)) > 0).int()
    assert reads.sum().item() == 60
    assert reads[0].nonzero().flatten().tolist() == [0, 1, 2]
    assert reads[6].nonzero().flatten().tolist() == [0, 1, 2, 3]
    assert reads[12].nonzero().flatten().tolist() == [0, 1, 3, 4]
    assert reads[15].sum().item() == 6


def _real_leaf_shapes(module: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Output shapes of every leaf module call, from plain forward hooks on a real forward pass."""
    shapes = []
    names = {m: n for n, m in module.named_modules()}
    hooks = [
        m.register_forward_hook(lambda m, i, o: shapes.append((names[m], tuple(o.shape))))
        for m in names
        if not list(m.children())
    ]
    with torch.no_grad():
        out = module(x)
    for hook in hooks:
        hook.remove()
    return shapes + [("<output>", tuple(out.shape))]


SMALL_INPUT = {"alexnet": (3, 96, 96), "vgg16": (3, 64, 64), "googlenet": (3, 64, 64), "resnet50": (3, 64, 64)}


@pytest.mark.parametrize("name", ZOO)
def test_traced_shapes_equal_a_real_forward_pass(name):
    resolved = resolve_model(name, on_meta=False)
    size = SMALL_INPUT.get(name, resolved.input_size)
    expected = _real_leaf_shapes(resolved.module, torch.randn(2, *size))
    report = cnnstat.analyze(name, size, batch=2)
    traced = [(layer.name, layer.output_shape) for layer in report.layers if layer.is_module]
    assert traced + [("<output>", report.output_shape)] == expected


def test_unknown_model_suggests_near_names():
    with pytest.raises(UnknownModelError, match="did you mean resnet50"):
        resolve_model("resnet5")


def test_torchvision_names_fall_through():
    report = cnnstat.analyze("resnet18")
    assert report.totals["params"] == 11_689_512


def test_user_model_from_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "import torch.nn as nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))\n"
    )
    report = cnnstat.analyze(f"{path}:build", (3, 8, 8))
    assert report.output_shape == (1, 2)
    assert report.totals["params"] == 3 * 4 * 9 + 4 + 144 * 2 + 2


def test_user_model_errors_are_cnnstat_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        resolve_model(str(tmp_path / "absent.py") + ":build")
    (tmp_path / "odd.py").write_text("thing = 3\n")
    with pytest.raises(ModelLoadError, match="not a module"):
        resolve_model(str(tmp_path / "odd.py") + ":thing")
