"""Any model a user brings: several inputs, any rank and dtype, structured outputs, every layer type,
1-D and 3-D connections by brute force, and every torchvision family by name."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.counting.conventions import CONVENTIONS
from cnnstat.counting.inputs import meta_inputs
from cnnstat.counting.report import Report
from cnnstat.report.tables import explain_lines
from cnnstat.zoo import resolve_model, torchvision_families, torchvision_figures
from cnnstat.zoo.published import evaluate


def meta_flop_counter_macs(module: nn.Module, args: tuple, kwargs: dict | None = None) -> int:
    """torch's own count of the products, taken on meta (where attention and RNNs decompose into counted matmuls)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module.to("meta")(*args, **(kwargs or {}))
    return counter.get_total_flops() // 2


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Conv2d(3, 4, 3)
        self.mask = nn.Conv2d(1, 4, 3)

    def forward(self, x, y, scale=None):
        out = self.image(x) + self.mask(y)
        return out * scale if scale is not None else out


def test_several_inputs_by_position_and_by_keyword():
    report = cnnstat.analyze(TwoInputs(), [(3, 22, 22), (1, 22, 22)])
    assert [(path, meta.shape) for path, meta in report.inputs] == [("x", (1, 3, 22, 22)), ("y", (1, 1, 22, 22))]
    assert report.output_shape == (1, 4, 20, 20)
    expected = meta_flop_counter_macs(TwoInputs(), (torch.zeros(1, 3, 22, 22, device="meta"), torch.zeros(1, 1, 22, 22, device="meta")))
    assert report.totals["macs"] == expected
    scaled = cnnstat.analyze(TwoInputs(), {"x": (3, 22, 22), "y": (1, 22, 22), "scale": (4, 1, 1)})
    assert scaled.totals["elementwise"] == report.totals["elementwise"] + 4 * 20 * 20


def test_ready_tensors_are_counted_on_meta_copies(tmp_path):
    x, y = torch.randn(2, 3, 10, 10), torch.randn(2, 1, 10, 10)
    report = cnnstat.analyze(TwoInputs(), input_data=(x, y))
    assert report.input_shape == (2, 3, 10, 10) and x.device.type == "cpu"
    assert cnnstat.analyze(TwoInputs(), input_data={"x": x, "y": y}).totals == report.totals


def test_the_cli_takes_one_input_per_argument_with_dtypes_and_keywords(cli, tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(
        "import torch, torch.nn as nn\n"
        "class Two(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.a = nn.Conv2d(3, 4, 3); self.b = nn.Conv2d(1, 4, 3)\n"
        "    def forward(self, x, y):\n"
        "        return self.a(x) + self.b(y)\n"
        "class Tokens(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.embed = nn.Embedding(100, 16); self.head = nn.Linear(16, 5)\n"
        "    def forward(self, ids):\n"
        "        return self.head(self.embed(ids))\n"
        "lstm = nn.LSTM(28, 64, batch_first=True)\n"
    )  # fmt: skip
    two = json.loads(cli("summary", f"{path}:Two", "--input", "3x12x12", "--input", "1x12x12", "-f", "json").stdout)
    assert [i["shape"] for i in two["inputs"]] == [[1, 3, 12, 12], [1, 1, 12, 12]]
    named = json.loads(cli("summary", f"{path}:Two", "-i", "3x12x12", "-i", "y=1x12x12", "-f", "json").stdout)
    assert named["totals"] == two["totals"]
    tokens = json.loads(cli("summary", f"{path}:Tokens", "--input", "128:int64", "--batch", "2", "-f", "json").stdout)
    assert tokens["inputs"][0] == {"path": "ids", "shape": [2, 128], "dtype": "int64"}
    assert tokens["totals"]["macs"] == 2 * 128 * 16 * 5
    three = cli("summary", f"{path}:Tokens", "-i", "128:int64", "-i", "3", "-i", "4")
    assert three.exit_code == 1 and "takes 1 positional input (ids), but 3 --input were given" in three.output
    assert len(three.output.strip().splitlines()) == 1
    unknown = cli("summary", f"{path}:Tokens", "-i", "128:int65")
    assert unknown.exit_code == 1 and "unknown dtype 'int65'" in unknown.output
    lstm = cli("summary", f"{path}:lstm")  # its input_size attribute is a feature count, not a shape
    assert lstm.exit_code == 1 and "has no default input" in lstm.output and "Traceback" not in lstm.output
    counted = json.loads(cli("summary", f"{path}:lstm", "-i", "7x28", "-f", "json").stdout)
    assert counted["totals"]["macs"] == 7 * (28 + 64) * 4 * 64  # per step: four gates, input and state products


STRUCTURED = """
from collections import namedtuple
import torch.nn as nn
Pair = namedtuple("Pair", "logits features")
class Structured(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
    def forward(self, x):
        y = self.conv(x)
        return {"out": y, "aux": [y.mean((2, 3)), Pair(y.flatten(1), y)]}
"""


def test_structured_outputs_are_listed_by_path(cli, tmp_path):
    path = tmp_path / "structured.py"
    path.write_text(STRUCTURED)
    report = cnnstat.analyze(f"{path}:Structured", (3, 8, 8))
    paths = [(path, meta.shape) for path, meta in report.outputs]
    assert paths == [("out", (1, 4, 6, 6)), ("aux.[0]", (1, 4)), ("aux.[1].logits", (1, 144)), ("aux.[1].features", (1, 4, 6, 6))]
    assert report.to_dict()["output_shape"] == [1, 4, 6, 6]
    table = cli("summary", f"{path}:Structured", "-i", "3x8x8").output
    assert "Output: out 1×4×6×6, aux.[0] 1×4, aux.[1].logits 1×144, aux.[1].features 1×4×6×6" in table


LAYERS = {
    "conv1d": (nn.Conv1d(2, 4, 5, stride=2, padding=1), (2, 31)),
    "conv3d": (nn.Conv3d(2, 3, (2, 3, 3), padding=1), (2, 5, 9, 9)),
    "conv_transpose1d": (nn.ConvTranspose1d(2, 3, 4, stride=2), (2, 9)),
    "conv_transpose3d": (nn.ConvTranspose3d(2, 2, 3, stride=2, padding=1), (2, 3, 5, 5)),
    "maxpool1d": (nn.MaxPool1d(3, 2, 1), (2, 17)),
    "avgpool3d": (nn.AvgPool3d(2), (2, 4, 6, 6)),
    "adaptive1d": (nn.AdaptiveAvgPool1d(5), (2, 17)),
    "adaptivemax3d": (nn.AdaptiveMaxPool3d((2, 3, 3)), (2, 5, 7, 7)),
    "upsample": (nn.Upsample(scale_factor=2, mode="bilinear"), (2, 5, 5)),
    "embedding": (nn.Embedding(50, 8), "12:int64"),
    "rnn": (nn.RNN(6, 8, batch_first=True), (5, 6)),
    "lstm": (nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True), (5, 6)),
    "gru": (nn.GRU(6, 8, batch_first=True), (5, 6)),
    "attention": (nn.MultiheadAttention(16, 4, batch_first=True), None),
    "layernorm": (nn.LayerNorm(16), (5, 16)),
    "groupnorm": (nn.GroupNorm(2, 4), (4, 6, 6)),
}


class SelfAttention(nn.Module):
    def __init__(self, attention: nn.Module):
        super().__init__()
        self.attention = attention

    def forward(self, x):
        return self.attention(x, x, x)[0]


class ScaledDotProduct(nn.Module):
    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("name", [*LAYERS, "sdpa"])
def test_every_layer_type_is_counted_under_every_convention(name):
    if name == "sdpa":
        module, sizes = ScaledDotProduct(), [(2, 7, 8), (2, 9, 8), (2, 9, 8)]
    else:
        module, size = LAYERS[name]
        module = SelfAttention(module) if name == "attention" else module
        sizes = [size if size is not None else (6, 16)]
    report = cnnstat.analyze(module, sizes)
    assert not report.uncounted
    args, kwargs = meta_inputs(report_specs(report), 1)
    assert report.totals["macs"] == meta_flop_counter_macs(module, args, kwargs)
    for convention in CONVENTIONS:
        flops = report.with_convention(convention).totals["flops"]
        assert isinstance(flops, int) and flops >= 0, convention
    if report.totals["macs"] or name in ("layernorm", "groupnorm", "upsample", "maxpool1d", "avgpool3d"):
        assert any(layer.formula for layer in report.layers), f"{name} has no --explain formula"


def report_specs(report):
    from cnnstat.counting.inputs import InputSpec

    return [InputSpec(meta.shape[1:], meta.dtype) for _, meta in report.inputs]


# -- --explain: every formula's arithmetic is the number it prints ------------------------------------

EXPLAINED_LAYERS = {
    "conv2d": (nn.Conv2d(3, 4, 3, padding=1), (3, 8, 8)),
    "conv_transpose2d": (nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (4, 5, 5)),
    "conv_transpose2d_no_bias": (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, bias=False), (4, 5, 5)),
    "maxpool2d": (nn.MaxPool2d(3, 2, 1), (3, 9, 9)),
    "linear": (nn.Linear(5, 3), (5,)),
    "batchnorm": (nn.BatchNorm2d(3), (3, 6, 6)),
}
EXPLAINED_ZOO = ("lenet5", "lenet5-1998", "alexnet-2012", "googlenet-2014")


def _explained_report(name: str) -> Report:
    if name in EXPLAINED_ZOO:
        return cnnstat.analyze(name)
    if name == "sdpa":
        return cnnstat.analyze(ScaledDotProduct(), [(2, 7, 8), (2, 9, 8), (2, 9, 8)])
    if name == "conv_transpose1d_batch3":  # the batch multiplies the products and the biases alike
        return cnnstat.analyze(nn.ConvTranspose1d(2, 3, 4, stride=2), (2, 9), batch=3)
    if name == "batchnorm_training":  # batch statistics, and one addition to the count of batches tracked
        return cnnstat.analyze(nn.BatchNorm2d(3), (3, 6, 6), train=True)
    module, size = EXPLAINED_LAYERS.get(name) or LAYERS[name]
    return cnnstat.analyze(SelfAttention(module) if name == "attention" else module, [size if size is not None else (6, 16)])


@pytest.mark.parametrize(
    "name", [*LAYERS, "sdpa", *EXPLAINED_LAYERS, "conv_transpose1d_batch3", "batchnorm_training", *EXPLAINED_ZOO]
)
def test_every_explained_formula_evaluates_to_the_figure_it_explains(name):
    report = _explained_report(name)
    rows = [layer for layer in report.layers if layer.formula]
    lines = explain_lines(report)
    for row, line in zip(rows, lines, strict=True):
        formula, _, printed = line.removeprefix(f"{row.name}: ").partition("  (")[0].rpartition(" = ")
        number = int(printed.removesuffix(" elementwise").replace(",", ""))
        # a row with neurons explains its closed-form connections; normalisation and resampling their arithmetic
        assert number == (row.formula_connections if row.neurons else row.elementwise), line
        assert evaluate(formula) == number, line


def test_a_transposed_convolution_is_explained_by_its_input_positions():
    (row,) = cnnstat.analyze(nn.ConvTranspose1d(2, 3, 4, stride=2), (2, 9)).layers
    assert row.formula == "2·4·3·9 + 3·20"  # in·k·out products at each of 9 input positions, a bias at each of 20 outputs
    assert row.macs == meta_flop_counter_macs(nn.ConvTranspose1d(2, 3, 4, stride=2), (torch.zeros(1, 2, 9, device="meta"),))


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        # in-projection of 6 tokens, Q·Kᵀ and scores·V over 4 heads of 4 dimensions, out-projection
        ("attention", "6·(16+1)·48 + 24·4·6 + 24·6·4 + 6·(16+1)·16"),
        ("sdpa", "14·8·9 + 14·9·8"),
    ],
)
def test_attention_formulas_leave_the_softmax_to_the_elementwise_count(name, formula):
    (row,) = _explained_report(name).layers
    assert row.formula == formula  # no 3·scores term: the softmax's exponent, sum and divide are elementwise work
    assert evaluate(row.formula) == row.formula_connections
    assert row.elementwise > 0


# -- a sequence-first LSTM -------------------------------------------------------------------------------


def test_a_sequence_first_lstm_reads_the_batch_as_its_steps(cli, tmp_path):
    path = tmp_path / "recurrent.py"
    path.write_text("import torch.nn as nn\nlstm = nn.LSTM(28, 64)\n")  # no batch_first: it reads (L, N, H)
    torch.manual_seed(0)
    lstm = nn.LSTM(28, 64)
    for options, steps, batch in ((("-i", "1x28", "-b", "7"), 7, 1), (("-i", "7x28", "-b", "1"), 1, 7)):
        document = json.loads(cli("summary", f"{path}:lstm", *options, "-f", "json").stdout)
        assert document["inputs"][0]["shape"] == [steps, batch, 28]
        output, (hidden, cell) = lstm(torch.randn(steps, batch, 28))  # a real forward pass
        assert [o["shape"] for o in document["outputs"]] == [list(output.shape), list(hidden.shape), list(cell.shape)]
        meta = meta_flop_counter_macs(nn.LSTM(28, 64), (torch.zeros(steps, batch, 28, device="meta"),))
        assert document["totals"]["macs"] == meta == steps * batch * (28 + 64) * 4 * 64
    report = cnnstat.analyze(nn.LSTM(28, 64), (1, 28), batch=7)
    assert report.layers[0].formula == "7·((28+1)+(64+1))·4·64"  # 7 steps of one sequence: no batch factor


# -- names are printed as given --------------------------------------------------------------------------


def test_model_names_are_printed_literally_not_as_emoji(cli, tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import torch.nn as nn\ntwo = nn.Linear(4, 2)\n")
    result = cli("check", f"{path}:two", "-i", "4")
    assert result.exit_code == 0, result.output
    # check names a file by its path from its project (here none: the file's own name); rich would print ":two:" as 2️⃣
    assert "\nm.py:two: OK" in result.output
    assert "\u20e3" not in result.output
    error = cli("summary", ":smile:")  # and the error line on stderr
    assert error.exit_code == 1 and "':smile:'" in error.output and "\U0001f604" not in error.output


# -- connections of 1-D and 3-D convolutions and pools by brute force -------------------------------


def brute_force_links(layer: nn.Module, in_shape: tuple[int, ...]) -> int:
    """Visit every output unit and every kernel tap of an N-d convolution or pool; count taps inside the input."""
    dims = len(in_shape) - 1
    out = layer(torch.zeros(1, *in_shape)).shape[2:]
    k = _tuple(layer.kernel_size, dims)
    s = _tuple(layer.stride, dims)
    p = _tuple(layer.padding, dims)
    d = _tuple(getattr(layer, "dilation", 1), dims)
    links = 0
    for position in itertools.product(*(range(o) for o in out)):
        for tap in itertools.product(*(range(kk) for kk in k)):
            links += all(0 <= position[i] * s[i] - p[i] + tap[i] * d[i] < in_shape[1 + i] for i in range(dims))
    if isinstance(layer, nn.modules.conv._ConvNd):
        per_unit = layer.in_channels // layer.groups
        return links * layer.out_channels * per_unit + (layer.out_channels * out.numel() if layer.bias is not None else 0)
    return links * in_shape[0]


def _tuple(value, dims):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


@settings(max_examples=40, deadline=None)
@given(
    dims=st.sampled_from([1, 3]), kind=st.sampled_from(["conv", "max", "avg"]), kernel=st.integers(1, 3),
    stride=st.integers(1, 2), padding=st.integers(0, 1), dilation=st.integers(1, 2), bias=st.booleans(),
    size=st.integers(4, 7),
)  # fmt: skip
def test_1d_and_3d_connections_equal_brute_force(dims, kind, kernel, stride, padding, dilation, bias, size):
    if padding > kernel // 2 and kind != "conv":
        return  # torch refuses pool padding over half the kernel
    shape = (2, *(size,) * dims)
    if kind == "conv":
        layer = (nn.Conv1d if dims == 1 else nn.Conv3d)(2, 2, kernel, stride, padding, dilation, bias=bias)
    elif kind == "max":
        layer = (nn.MaxPool1d if dims == 1 else nn.MaxPool3d)(kernel, stride, padding, dilation)
    else:
        layer = (nn.AvgPool1d if dims == 1 else nn.AvgPool3d)(kernel, stride, padding)
    if dilation * (kernel - 1) + 1 > size + 2 * padding:
        return
    row = cnnstat.analyze(layer, shape).layers[0]
    assert row.connections == brute_force_links(layer, shape)


# -- every torchvision family by name -------------------------------------------------------------------

FAMILIES = [name for name, family in torchvision_families().items() if family not in ("classification", "detection")]


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_every_torchvision_family_counts_what_flop_counter_mode_counts_on_meta(name):
    report = cnnstat.analyze(name)
    resolved = resolve_model(name)
    args, kwargs = meta_inputs(list(resolved.inputs), 1)
    assert report.totals["macs"] == meta_flop_counter_macs(resolved.module, args, kwargs)
    assert report.totals["params"] == sum(p.numel() for p in resolved.module.parameters())
    assert not report.uncounted, report.uncounted
    figures = torchvision_figures(name)
    if figures is not None and figures.gflops is not None and figures.inputs:
        assert figures.gflops.agrees(report.totals["macs"]), (figures.gflops.printed, report.totals["macs"])
        assert figures.num_params.agrees(report.totals["params"])


DETECTORS = [name for name, family in torchvision_families().items() if family == "detection"]


@pytest.mark.slow
@pytest.mark.parametrize("name", DETECTORS)
def test_detectors_count_what_the_image_size_fixes_and_say_what_they_leave_out(name):
    report = cnnstat.analyze(name)
    assert report.totals["macs"] > 0 and not report.uncounted
    assert any("non-maximum suppression" in note for note in report.notes)
    model = cnnstat.get_model(name)  # the detector itself, for users
    assert type(model).__name__ in report.notes[0]
    assert report.totals["params"] == sum(p.numel() for p in model.parameters())


def test_a_detector_given_a_one_dimensional_input_says_so_in_one_line(cli):
    result = cli("summary", "ssdlite320_mobilenet_v3_large", "--input", "100")
    assert result.exit_code == 1 and "a detector takes RGB images" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_ssd_matches_torchvisions_published_gflops():
    report = cnnstat.analyze("ssdlite320_mobilenet_v3_large")
    assert f"{report.totals['macs'] / 1e9:.3f}" == torchvision_figures("ssdlite320_mobilenet_v3_large").gflops.printed


def test_check_explains_the_batch_norm_torchvision_freezes_in_its_detectors(cli):
    document = json.loads(cli("check", "fasterrcnn_resnet50_fpn", "--against", "torchvision", "-f", "json").stdout)[0]
    (params,) = [c for c in document["comparisons"] if c["quantity"] == "params"]
    assert document["ok"] and params["verdict"] == "explained"
    frozen = sum(m.weight.numel() * 2 for m in cnnstat.get_model("fasterrcnn_resnet50_fpn").backbone.modules()
                 if isinstance(m, nn.BatchNorm2d))  # fmt: skip
    assert params["ours"] - frozen == params["theirs"] == 41_755_286
