"""The classics as their papers built them: every printed figure, against torch's forward pass, FlopCounterMode and the papers."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace

import pytest
import torch
from test_counts import flop_counter_macs
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.check import AGREES, EXPLAINED, MISMATCH, TOTAL, check_model
from cnnstat.check.references import check_paper
from cnnstat.zoo import PublishedFigure, get_entry, resolve_model, torchvision_figures
from cnnstat.zoo import registry as zoo_registry
from cnnstat.zoo.papers import vgg

PAPER_MODELS = ("alexnet-2012", "vgg16-2014", "googlenet-2014", "resnet50-2015")

# What the papers print, transcribed here from the papers, apart from the zoo's own copies.
ALEXNET_NEURONS = {  # Krizhevsky et al. 2012, §3.5: "253,440–186,624–64,896–64,896–43,264–4096–4096–1000"
    "conv1": 253_440, "conv2": 186_624, "conv3": 64_896, "conv4": 64_896, "conv5": 43_264,
    "fc6": 4096, "fc7": 4096, "fc8": 1000,
}  # fmt: skip
VGG_TABLE_1_D = (  # Simonyan & Zisserman 2014, Table 1, column D: a kernel size and a width per layer, no counts
    "conv3-64", "conv3-64", "maxpool",
    "conv3-128", "conv3-128", "maxpool",
    "conv3-256", "conv3-256", "conv3-256", "maxpool",
    "conv3-512", "conv3-512", "conv3-512", "maxpool",
    "conv3-512", "conv3-512", "conv3-512", "maxpool",
    "FC-4096", "FC-4096", "FC-1000",
)  # fmt: skip
GOOGLENET_TABLE_1 = {  # Szegedy et al. 2014, Table 1: output size, params, ops
    "conv1": ("112×112×64", "2.7K", "34M"),
    "pool1": ("56×56×64", None, None),
    "conv2": ("56×56×192", "112K", "360M"),
    "pool2": ("28×28×192", None, None),
    "inception3a": ("28×28×256", "159K", "128M"),
    "inception3b": ("28×28×480", "380K", "304M"),
    "pool3": ("14×14×480", None, None),
    "inception4a": ("14×14×512", "364K", "73M"),
    "inception4b": ("14×14×512", "437K", "88M"),
    "inception4c": ("14×14×512", "463K", "100M"),
    "inception4d": ("14×14×528", "580K", "119M"),
    "inception4e": ("14×14×832", "840K", "170M"),
    "pool4": ("7×7×832", None, None),
    "inception5a": ("7×7×832", "1072K", "54M"),
    "inception5b": ("7×7×1024", "1388K", "71M"),
    "avgpool": ("1×1×1024", None, None),
    "dropout": ("1×1×1024", None, None),
    "linear": ("1×1×1000", "1000K", "1M"),
}


def _real(name: str) -> nn.Module:
    torch.manual_seed(0)
    return resolve_model(name, on_meta=False).module


def _output_shapes(module: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, tuple[int, ...]]:
    """The output shape of each named submodule in a real forward pass (plain forward hooks)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(output.shape))

        return record

    hooks = [module.get_submodule(name).register_forward_hook(hook(name)) for name in names]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def _table_1_entries(model: nn.Module) -> list[tuple[str, str]]:
    """Each weighted or pooling layer of a built VGG, as (name, Table 1's notation) read from the layer itself."""
    entries = []
    for name, layer in model.named_children():
        if isinstance(layer, nn.Conv2d):
            assert layer.kernel_size[0] == layer.kernel_size[1] and layer.stride == (1, 1), name  # §2.1
            assert layer.padding == (layer.kernel_size[0] // 2,) * 2, name  # §2.1: the spatial resolution is kept
            entries.append((name, f"conv{layer.kernel_size[0]}-{layer.out_channels}"))
        elif isinstance(layer, nn.MaxPool2d):
            assert (layer.kernel_size, layer.stride) == (2, 2), name  # §2.1: 2×2 windows at stride 2
            entries.append((name, "maxpool"))
        elif isinstance(layer, nn.Linear):
            entries.append((name, f"FC-{layer.out_features}"))
    return entries


def _paper_comparisons(name: str):
    return check_model(name, against=("paper",)).comparisons


def _rows_of(report: cnnstat.Report, module: str) -> list:
    return [row for row in report.layers if row.module == module or row.module.startswith(module + ".")]


def _flop_counter_macs_by_module(name: str) -> dict[str, int]:
    """FlopCounterMode's MACs (half its FLOPs) per module of a zoo model on meta, and the model's under TOTAL."""
    module = resolve_model(name).module
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, *get_entry(name).input_size, device="meta"))
    root = type(module).__name__ + "."
    macs = {key.removeprefix(root): sum(ops.values()) // 2 for key, ops in counter.get_flop_counts().items()}
    return {**macs, TOTAL: counter.get_total_flops() // 2}


def _thousands(printed: str) -> int:
    """Table 1's "2.7K" as 2,700: K read as a thousand, as the zoo reads it."""
    return round(float(printed.removesuffix("K")) * 1000)


# -- the figures come out ------------------------------------------------------------------------


def test_alexnet_2012_has_sixty_million_parameters_and_the_papers_neurons():
    report = cnnstat.analyze("alexnet-2012")
    assert report.input_shape == (1, 3, 227, 227)
    assert report.totals["params"] == 60_965_224
    real = _real("alexnet-2012")
    assert sum(p.numel() for p in real.parameters()) == 60_965_224
    shapes = _output_shapes(real, torch.randn(1, 3, 227, 227), list(ALEXNET_NEURONS))
    rows = {row.name: row for row in report.layers}
    for layer, printed in ALEXNET_NEURONS.items():
        assert rows[layer].neurons == math.prod(shapes[layer]), layer  # a neuron per output unit of the real forward pass
        assert rows[layer].neurons == (printed if layer != "conv1" else 290_400), layer  # the paper prints 253,440 there


def test_alexnet_2012_splits_three_layers_over_two_gpus():
    real = _real("alexnet-2012")
    groups = {name: layer.groups for name, layer in real.named_children() if isinstance(layer, nn.Conv2d)}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}  # conv3 reads both halves
    row = next(row for row in cnnstat.analyze("alexnet-2012").layers if row.name == "conv2")
    assert row.formula == "(48·5²+1)·256·27²"  # (a/g·k²+1)·b·m²: each output map reads 96/2 maps
    assert row.formula_connections == flop_counter_macs(real.conv2, (1, 96, 27, 27)) + 256 * 27 * 27
    # its true connections (links onto the padding left out) are test_counts' brute force over grouped convolutions


def test_vgg16_2014_is_configuration_d():
    report = cnnstat.analyze("vgg16-2014")
    published = torchvision_figures("vgg16")  # torchvision's VGG-16 is configuration D, without batch norm
    assert report.totals["params"] == 138_357_544 == int(published.num_params.value)
    assert f"{report.totals['macs'] / 1e9:.3f}" == published.gflops.printed
    convs = [row for row in report.layers if row.type == "Conv2d"]
    assert [row.output_shape[1] for row in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def test_vgg16_2014_layers_are_table_1s_entries():
    real = _real("vgg16-2014")
    entries = _table_1_entries(real)
    assert [entry for _, entry in entries] == list(VGG_TABLE_1_D)  # kernel and channels of every layer, in order
    assert dict(entries)["conv3_2"] == "conv3-256"
    convs = [name for name, layer in real.named_children() if isinstance(layer, nn.Conv2d)]
    shapes = _output_shapes(real, torch.randn(1, 3, 224, 224), convs)
    widths = [int(entry.partition("-")[2]) for entry in VGG_TABLE_1_D if entry.startswith("conv")]
    assert [shapes[name][1] for name in convs] == widths  # the channels a real forward pass produces


def test_a_vgg_layer_that_is_not_table_1s_entry_is_caught(monkeypatch):
    wrong = list(VGG_TABLE_1_D)
    wrong[7] = "conv3-128"  # conv3_2 with 128 channels: 137,767,592 parameters, and Table 2's 138 million still agrees
    monkeypatch.setattr(vgg, "CONFIGURATION_D", tuple(wrong))
    entries = _table_1_entries(_real("vgg16-2014"))
    assert [name for (name, entry), printed in zip(entries, VGG_TABLE_1_D, strict=True) if entry != printed] == ["conv3_2"]
    params = cnnstat.analyze("vgg16-2014").totals["params"]
    assert params == 137_767_592 and get_entry("vgg16-2014").published[0].agrees(params)


def test_resnet50_2015_strides_on_the_first_1x1_convolution():
    resolved = resolve_model("resnet50-2015")
    report = cnnstat.analyze("resnet50-2015")
    assert report.totals["macs"] == 3_857_973_248 == flop_counter_macs(resolved.module, report.input_shape)
    assert report.totals["params"] == 25_557_032 == int(torchvision_figures("resnet50").num_params.value)
    names = [f"layer{stage}.0.{conv}" for stage in (2, 3, 4) for conv in ("conv1", "conv2")]
    paper = _output_shapes(_real("resnet50-2015"), torch.randn(1, 3, 64, 64), names)
    torchvision = _output_shapes(_real("resnet50"), torch.randn(1, 3, 64, 64), names)
    for stage, side in ((2, 8), (3, 4), (4, 2)):  # 64×64 in: 16×16 into layer2
        assert paper[f"layer{stage}.0.conv1"][-1] == side  # the paper: the 1×1 halves the resolution
        assert torchvision[f"layer{stage}.0.conv1"][-1] == 2 * side  # torchvision's v1.5: the 3×3 does
        assert paper[f"layer{stage}.0.conv2"][-1] == torchvision[f"layer{stage}.0.conv2"][-1] == side


def test_googlenet_2014_rows_have_table_1s_output_sizes():
    real = _real("googlenet-2014")
    shapes = _output_shapes(real, torch.randn(1, 3, 224, 224), list(GOOGLENET_TABLE_1))
    for layer, (size, _, _) in GOOGLENET_TABLE_1.items():
        height, width, channels = (int(n) for n in size.split("×"))
        shape = shapes[layer]
        assert shape[1:] == ((channels, height, width) if len(shape) == 4 else (channels,)), layer
        assert len(shape) == 4 or height == width == 1, layer
    assert not any(isinstance(m, nn.BatchNorm2d) for m in real.modules())
    assert all(m.bias is not None for m in real.modules() if isinstance(m, nn.Conv2d))
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in real.modules()) == 2


def test_googlenet_2014_macs_per_table_1_row_equal_flop_counter_mode():
    resolved = resolve_model("googlenet-2014")
    report = cnnstat.analyze("googlenet-2014")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        resolved.module(torch.zeros(1, 3, 224, 224, device="meta"))
    theirs = {key.removeprefix("Sequential."): sum(ops.values()) for key, ops in counter.get_flop_counts().items()}
    for layer, (_, _, ops) in GOOGLENET_TABLE_1.items():
        if ops is not None:
            assert 2 * sum(row.macs for row in _rows_of(report, layer)) == theirs[layer], layer
    assert 2 * report.totals["macs"] == counter.get_total_flops() == 2 * 1_582_671_872


# -- check --against paper -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_check_against_the_paper_passes(cli, name):
    result = cli("check", name, "--against", "paper")
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output


def test_vgg16_2014s_one_printed_figure_agrees_at_its_precision():
    (comparison,) = _paper_comparisons("vgg16-2014")  # Table 1 prints no per-layer counts: Table 2's total is all
    assert (comparison.layer, comparison.quantity, comparison.verdict) == (TOTAL, "params (as printed)", AGREES)
    assert (comparison.ours, comparison.theirs) == ("138", "138")  # whole millions, as Table 2 prints them


def test_each_entry_records_what_its_paper_printed():
    figures = {(f.layer, f.quantity): f for f in get_entry("googlenet-2014").published}
    for layer, (_, params, ops) in GOOGLENET_TABLE_1.items():
        if params is not None:
            assert (figures[(layer, "params")].printed, figures[(layer, "macs")].printed) == (params, ops)
            assert figures[(layer, "params")].source == figures[(layer, "macs")].source == "Szegedy et al. 2014, Table 1"
    assert figures[("", "macs")].printed == "1.5 billion"
    alexnet = {f.layer: f.printed.replace(",", "") for f in get_entry("alexnet-2012").published if f.quantity == "neurons"}
    assert {layer: int(printed) for layer, printed in alexnet.items()} == ALEXNET_NEURONS
    assert [f.printed for f in get_entry("resnet50-2015").published] == ["3.8×10⁹"]
    assert [(f.layer, f.printed, f.unit, f.source) for f in get_entry("vgg16-2014").published] == [
        ("", "138", 10**6, "Simonyan & Zisserman 2014, Table 2, in millions")
    ]
    assert vgg.CONFIGURATION_D == VGG_TABLE_1_D  # the zoo's transcription of Table 1, beside this one


def test_googlenet_2014_verdicts_follow_table_1():
    verdicts = {(c.layer, c.quantity): c.verdict for c in _paper_comparisons("googlenet-2014")}
    # the ops Table 1 prints that its own columns give, at the precision printed
    following = {
        "conv2",
        "inception3a",
        "inception3b",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "inception5b",
        "linear",
    }
    assert {key for key, verdict in verdicts.items() if verdict == AGREES} == {
        (layer, "macs (as printed)") for layer in following
    }
    assert {key for key, verdict in verdicts.items() if verdict != AGREES} == {
        *((layer, "params") for layer, (_, params, _) in GOOGLENET_TABLE_1.items() if params),
        ("conv1", "macs"), ("inception4a", "macs"), ("inception5a", "macs"), (TOTAL, "macs"),
    }  # fmt: skip
    assert set(verdicts.values()) == {AGREES, EXPLAINED}


def _comparison(name: str, layer: str, quantity: str):
    return next(c for c in _paper_comparisons(name) if c.layer == layer and c.quantity == quantity)


def test_a_truncated_total_is_explained_by_the_truncation_alone():
    # the abstract's "60 million" parameters, beside the real model's
    params = _comparison("alexnet-2012", TOTAL, "params")
    (rule, count), = params.rules
    assert "truncates" in rule and count == 60_000_000 - sum(p.numel() for p in _real("alexnet-2012").parameters())
    assert params.verdict == EXPLAINED and params.theirs == 60_000_000
    # Table 1's "3.8×10⁹" multiply-adds, beside FlopCounterMode's
    macs = _comparison("resnet50-2015", TOTAL, "macs")
    (rule, count), = macs.rules
    assert rule.startswith("He et al. 2015, Table 1 truncates to the digits printed") and "rounding gives 3.9×10⁹" in rule
    assert count == 3_800_000_000 - _flop_counter_macs_by_module("resnet50-2015")[TOTAL]
    assert macs.verdict == EXPLAINED


def test_alexnet_2012_conv1s_neurons_rule_is_the_paper_minus_the_real_outputs():
    conv1 = _comparison("alexnet-2012", "conv1", "neurons")
    shapes = _output_shapes(_real("alexnet-2012"), torch.randn(1, 3, 227, 227), ["conv1"])
    (rule, count), = conv1.rules
    assert count == ALEXNET_NEURONS["conv1"] - math.prod(shapes["conv1"])  # 253,440 − 55·55·96
    assert "55·55·96 = 290,400 neurons" in rule and "(227−11)/4+1" in rule
    assert conv1.verdict == EXPLAINED and conv1.theirs == 253_440


def test_googlenet_2014_params_rules_are_the_biases_and_the_weights_the_real_model_holds():
    real = _real("googlenet-2014")
    params = [c for c in _paper_comparisons("googlenet-2014") if c.quantity == "params"]
    assert {c.layer for c in params} == {layer for layer, (_, printed, _) in GOOGLENET_TABLE_1.items() if printed}
    for comparison in params:
        held = dict(real.get_submodule(comparison.layer).named_parameters())
        weights = sum(p.numel() for n, p in held.items() if n.endswith("weight"))
        biases = sum(p.numel() for n, p in held.items() if n.endswith("bias"))
        (left_out, biases_count), (contradiction, to_printed) = comparison.rules
        assert "not the biases" in left_out and biases_count == -biases
        assert f"= {weights:,} weights" in contradiction  # the arithmetic shown is the weights the layer holds
        assert to_printed == _thousands(GOOGLENET_TABLE_1[comparison.layer][1]) - weights
        assert comparison.verdict == EXPLAINED
    conv1 = next(c for c in params if c.layer == "conv1")
    assert "7·7·3·64 = 9,408 weights" in conv1.explanation and "prints 2.7K" in conv1.explanation


def test_googlenet_2014_macs_rules_are_table_1_minus_flop_counter_mode():
    macs = _flop_counter_macs_by_module("googlenet-2014")
    printed = {layer: int(ops.removesuffix("M")) * 10**6 for layer, (_, _, ops) in GOOGLENET_TABLE_1.items() if ops}
    contradicted = {"conv1", "inception4a", "inception5a"}  # the rows whose figure its own columns do not give
    for layer in contradicted:
        (rule, count), = _comparison("googlenet-2014", layer, "macs").rules
        assert "does not follow from the architecture" in rule and count == printed[layer] - macs[layer], layer
    total = _comparison("googlenet-2014", TOTAL, "macs")
    *carried, (rounding, rounded) = total.rules
    assert dict(carried) == {
        next(rule for rule, _ in carried if rule.startswith(f"with {layer} ")): printed[layer] - macs[layer] for layer in contradicted
    }
    with_table_1 = macs[TOTAL] + sum(printed[layer] - macs[layer] for layer in contradicted)
    assert "rounds to the digits printed" in rounding and rounded == 1_500_000_000 - with_table_1
    assert total.verdict == EXPLAINED and total.theirs == 1_500_000_000


# -- a figure that is wrong fails --------------------------------------------------------------------


def _with_figures(monkeypatch: pytest.MonkeyPatch, name: str, *figures: PublishedFigure) -> None:
    entry = get_entry(name)
    monkeypatch.setitem(zoo_registry._MODELS._entries, name, replace(entry, published=figures))


def test_a_wrong_printed_figure_is_a_mismatch_and_fails_check(cli, monkeypatch):
    _with_figures(monkeypatch, "vgg16-2014", PublishedFigure("params", "139", "Simonyan & Zisserman 2014, Table 2", unit=10**6))
    result = cli("check", "vgg16-2014", "--against", "paper")
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # the explanation wraps at the terminal's width
    assert "MISMATCH" in output and f"no named rule explains {139_000_000 - 138_357_544:+,}" in output
    (document,) = json.loads(cli("check", "vgg16-2014", "--against", "paper", "-f", "json").stdout)
    (comparison,) = document["comparisons"]
    assert (comparison["verdict"], comparison["rules"], comparison["unexplained"]) == (MISMATCH, [], 139_000_000 - 138_357_544)


RESNET50_MACS = 3_857_973_248  # FlopCounterMode's, test_resnet50_2015_strides_on_the_first_1x1_convolution
RESNET50_FC_BIASES = 1000  # its convolutions have none


@pytest.mark.parametrize(
    ("figure", "rules", "unexplained"),
    [
        # truncation does not reach it: no rule
        (PublishedFigure("macs", "3.7×10⁹", "He et al. 2015, Table 1", rounding="down"), [], 3_700_000_000 - RESNET50_MACS),
        # it does follow from the architecture: no contradiction to name
        (PublishedFigure("macs", "3.9×10⁹", "He et al. 2015, Table 1", contradicts="3857973248"), [], 3_900_000_000 - RESNET50_MACS),
        # v1.5's arithmetic: the contradiction counts from it, and the rest is v1.5's surplus over the count
        (PublishedFigure("macs", "3.8×10⁹", "He et al. 2015, Table 1", contradicts="4089184256"),
         [3_800_000_000 - 4_089_184_256], 4_089_184_256 - RESNET50_MACS),
        # the fc's biases left out, and 25M still not reached
        (PublishedFigure("params", "25M", "He et al. 2015, Table 1", leaves_out=("biases",)),
         [-RESNET50_FC_BIASES], 25_000_000 - (25_557_032 - RESNET50_FC_BIASES)),
        # no conv1 figure to add up
        (PublishedFigure("macs", "3.8×10⁹", "He et al. 2015, Table 1", carries=("conv1",)), [], 3_800_000_000 - RESNET50_MACS),
    ],
)  # fmt: skip
def test_a_rule_that_does_not_close_the_gap_is_a_mismatch(figure, rules, unexplained):
    entry = replace(get_entry("resnet50-2015"), published=(figure,))
    (comparison,) = check_paper(entry, cnnstat.analyze("resnet50-2015"))
    assert comparison.verdict == MISMATCH
    assert [count for _, count in comparison.rules] == rules
    assert comparison.unexplained == unexplained and f"no named rule explains {unexplained:+,}" in comparison.explanation


def test_a_wrong_count_is_a_mismatch_not_a_rule():
    """A count one off in one layer: its rules keep their own counts, and the one is left unexplained."""
    report = cnnstat.analyze("googlenet-2014")
    wrong = replace(report, layers=tuple(replace(row, params=row.params + 1) if row.name == "conv1.conv" else row for row in report.layers))
    comparisons = {(c.layer, c.quantity): c for c in check_paper(get_entry("googlenet-2014"), wrong)}
    right = {(c.layer, c.quantity): c for c in check_paper(get_entry("googlenet-2014"), report)}
    conv1 = comparisons[("conv1", "params")]
    assert conv1.verdict == MISMATCH and conv1.unexplained == -1
    assert conv1.rules == right[("conv1", "params")].rules
    assert "the arithmetic 7·7·3·64 = 9,408 is not cnnstat's count, 9,409" in conv1.explanation
    assert [key for key, c in comparisons.items() if c.verdict == MISMATCH] == [("conv1", "params")]


# -- local response normalisation ----------------------------------------------------------------


def test_local_response_norm_is_elementwise_work_not_neurons():
    report = cnnstat.analyze("alexnet-2012")
    norms = [row for row in report.layers if row.type == "LocalResponseNorm"]
    assert [row.name for row in norms] == ["norm1", "norm2"]
    for row in norms:
        assert (row.neurons, row.connections, row.formula_connections, row.formula, row.macs) == (0, 0, 0, "", 0)
        assert row.elementwise > 0
    # every neuron is an output unit of a conv, pool or linear layer in a real forward pass
    real = _real("alexnet-2012")
    names = [n for n, m in real.named_children() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.Linear))]
    shapes = _output_shapes(real, torch.randn(1, 3, 227, 227), names)
    assert report.totals["neurons"] == sum(math.prod(shape) for shape in shapes.values())


@pytest.mark.parametrize("name", ["alexnet-2012", "googlenet-2014"])
def test_fvcore_convention_equals_fvcore_with_local_response_norm(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        real = _real(name)
        size = get_entry(name).input_size
        analysis = FlopCountAnalysis(real, torch.randn(1, *size))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        theirs = analysis.by_module()
    report = cnnstat.analyze(name, convention="fvcore")
    assert report.totals["flops"] == analysis.total()
    for module_name in {row.module for row in report.layers}:
        assert sum(row.flops for row in _rows_of(report, module_name)) == theirs[module_name], module_name


# -- published figures as printed ----------------------------------------------------------------


def test_figures_in_words_and_truncated():
    sixty = PublishedFigure("params", "60 million", "Krizhevsky et al. 2012, abstract", rounding="down")
    assert sixty.value == 60_000_000 and not sixty.exact
    assert not sixty.agrees(60_965_224) and sixty.agrees(60_965_224, "down")
    assert sixty.rounded(60_965_224) == "61 million"
    assert PublishedFigure("macs", "1.5 billion", "Szegedy et al. 2014, §1").value == 1_500_000_000
    with pytest.raises(ValueError, match="rounding"):
        PublishedFigure("macs", "3.8×10⁹", "He et al. 2015, Table 1", rounding="up")
