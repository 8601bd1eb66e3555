"""The counting core's contracts: the user's model is never changed, registries refuse duplicates,
arguments are read by name, and elementwise counts match independent references."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnstat
from cnnstat.counting.conventions import CONVENTIONS, Convention
from cnnstat.counting.layers import layer_counter
from cnnstat.counting.ops import count_nothing
from cnnstat.counting.receptive_field import constant
from cnnstat.counting.specs import OpKind, OpSpec, register
from cnnstat.errors import DuplicateNameError
from cnnstat.zoo import register_model


def _state(model: nn.Module) -> dict:
    """Everything analysis could change: modes, values, autograd flags, devices, hooks."""
    return {
        "modes": [m.training for m in model.modules()],
        "tensors": {k: v.clone() for k, v in model.state_dict(keep_vars=True).items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "devices": [t.device for t in model.state_dict().values()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()],
    }


def test_analysis_leaves_a_model_in_training_mode_exactly_as_it_was():
    import torchvision

    model = torchvision.models.resnet18(weights=None).train()
    model.layer1[0].conv1.weight.requires_grad_(False)  # a frozen layer stays frozen
    before = _state(model)
    report = cnnstat.analyze(model, (3, 64, 64))
    after = _state(model)
    assert report.totals["params"] == 11_689_512
    assert after["modes"] == before["modes"] and all(after["modes"])
    assert after["requires_grad"] == before["requires_grad"]
    assert after["devices"] == before["devices"]
    assert after["hooks"] == before["hooks"]
    for name, tensor in before["tensors"].items():  # batch-norm running statistics included
        assert torch.equal(after["tensors"][name], tensor), name


class _Masked(nn.Module):
    """Keeps a tensor as a plain attribute, or registers the same tensor as a buffer."""

    def __init__(self, as_buffer: bool):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        if as_buffer:
            self.register_buffer("mask", torch.tensor([1.0, 0.0, 1.0, 1.0]))
        else:
            self.mask = torch.tensor([1.0, 0.0, 1.0, 1.0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x * self.mask)


def test_a_tensor_kept_as_a_plain_attribute_is_traced_on_meta_and_left_alone():
    model = _Masked(as_buffer=False)
    mask = model.mask
    report = cnnstat.analyze(model, (4,))
    assert model.mask is mask and mask.device.type == "cpu" and mask.tolist() == [1.0, 0.0, 1.0, 1.0]
    reference = cnnstat.analyze(_Masked(as_buffer=True), (4,))
    assert report.totals == reference.totals and [r.output_shape for r in report.layers] == [(1, 4), (1, 3)]


def test_a_frozen_layer_gets_no_weight_gradient_and_the_input_none():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    model[2].weight.requires_grad_(False)
    model[2].bias.requires_grad_(False)
    rows = cnnstat.analyze(model, (3, 8, 8)).layers
    assert rows[0].backward_macs == rows[0].macs  # weight gradient only: the model's input needs none
    assert rows[2].backward_macs == rows[2].macs  # input gradient only: its weights are frozen


def test_registries_refuse_a_second_entry_under_a_name():
    with pytest.raises(DuplicateNameError, match="convolution"):
        register(OpSpec(("convolution",), OpKind.CONVOLUTION, count_nothing, constant))
    with pytest.raises(DuplicateNameError, match="Subsampling"):
        from cnnstat.zoo.lenet_layers import Subsampling

        layer_counter(Subsampling)(lambda layer, ops: {})
    with pytest.raises(DuplicateNameError, match="resnet50"):
        register_model("resnet50", input_size=(3, 224, 224), source="nowhere")(lambda: nn.Identity())
    with pytest.raises(DuplicateNameError, match="lenet"):
        register_model("another-lenet", input_size=(1, 32, 32), source="nowhere", aliases=("lenet",))(lambda: nn.Identity())
    assert isinstance(CONVENTIONS.get("lenet"), Convention)


class _Pool(nn.Module):
    def __init__(self, by_name: bool):
        super().__init__()
        self.by_name = by_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.by_name:
            return torch.ops.aten.max_pool2d_with_indices(x, kernel_size=[3, 3], padding=[1, 1], stride=[2, 2])[0]
        return torch.ops.aten.max_pool2d_with_indices(x, [3, 3], [2, 2], [1, 1])[0]


def test_arguments_are_read_by_name_however_they_were_passed():
    positional = cnnstat.analyze(_Pool(by_name=False), (2, 9, 9)).layers[0]
    keywords = cnnstat.analyze(_Pool(by_name=True), (2, 9, 9)).layers[0]
    assert keywords.output_shape == positional.output_shape == (1, 2, 5, 5)
    assert keywords.measures == positional.measures
    assert keywords.receptive_field == positional.receptive_field == (3, 3)


@pytest.mark.parametrize(
    "norm",
    [nn.BatchNorm2d(4), nn.BatchNorm2d(4, affine=False), nn.GroupNorm(2, 4), nn.GroupNorm(2, 4, affine=False),
     nn.LayerNorm([4, 6, 6]), nn.LayerNorm([4, 6, 6], elementwise_affine=False)],
)  # fmt: skip
def test_normalisation_matches_fvcore(norm):
    from fvcore.nn import FlopCountAnalysis

    model = nn.Sequential(nn.Conv2d(3, 4, 1), norm).eval()
    report = cnnstat.analyze(model, (3, 6, 6), convention="fvcore")
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, 6, 6)).unsupported_ops_warnings(False)
    assert report.layers[1].flops == analysis.by_module()["1"]


@pytest.mark.parametrize("norm", [nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.LayerNorm([4, 6, 6])])
def test_normalisation_elementwise_work_is_what_fvcore_estimates_with_an_affine(norm):
    from fvcore.nn import FlopCountAnalysis

    model = nn.Sequential(nn.Conv2d(3, 4, 1), norm).eval()
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, 6, 6)).unsupported_ops_warnings(False)
    # batch norm folded into a scale and a shift (2 per element); layer and group norm's statistics,
    # normalisation and affine (5 per element)
    assert cnnstat.analyze(model, (3, 6, 6)).layers[1].elementwise == analysis.by_module()["1"]


class _CountingSoftmax:
    """Softmax from scratch that counts its arithmetic: one exponential, one addition, one division per element."""

    def __call__(self, x: torch.Tensor, dim: int) -> tuple[torch.Tensor, int]:
        operations = 0
        exponentials = torch.exp(x)
        operations += x.numel()
        total = torch.zeros_like(x.sum(dim, keepdim=True))
        for index in range(x.shape[dim]):  # the sum, one addition per element
            total = total + exponentials.narrow(dim, index, 1)
            operations += total.numel()
        operations += x.numel()
        return exponentials / total, operations


@pytest.mark.parametrize("dim", [1, -1])
def test_softmax_counts_the_arithmetic_a_plain_implementation_does(dim):
    x = torch.randn(1, 5, 7)
    reference, operations = _CountingSoftmax()(x, dim)
    assert torch.allclose(reference, F.softmax(x, dim=dim), atol=1e-6)

    class Softmax(nn.Module):
        def forward(self, x):
            return F.softmax(x, dim=dim)

    assert cnnstat.analyze(Softmax(), (5, 7)).totals["elementwise"] == operations


def _interpolate_counting(x: torch.Tensor, size: int, mode: str) -> tuple[torch.Tensor, int]:
    """Resampling from scratch (align_corners=False): one multiply-accumulate per tap of each output; nearest copies."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, size, size)
    operations = 0
    for oy in range(size):
        for ox in range(size):
            if mode == "nearest":
                out[:, :, oy, ox] = x[:, :, oy * h // size, ox * w // size]
                continue
            sy, sx = max((oy + 0.5) * h / size - 0.5, 0), max((ox + 0.5) * w / size - 0.5, 0)
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            for yy, wy in ((y0, 1 - (sy - y0)), (y1, sy - y0)):
                for xx, wx in ((x0, 1 - (sx - x0)), (x1, sx - x0)):
                    out[:, :, oy, ox] += wy * wx * x[:, :, yy, xx]
                    operations += n * c
    return out, operations


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsampling_counts_one_multiply_accumulate_per_tap(mode):
    x = torch.randn(1, 2, 4, 4)
    reference, operations = _interpolate_counting(x, 8, mode)
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    assert torch.allclose(reference, F.interpolate(x, size=8, mode=mode, **kwargs), atol=1e-6)
    upsample = nn.Upsample(size=8, mode=mode, **kwargs)
    assert cnnstat.analyze(upsample, (2, 4, 4)).totals["elementwise"] == operations


def test_analyze_takes_a_copy_free_path_for_meta_models():
    model = copy.deepcopy(nn.Linear(3, 2)).to("meta")
    assert cnnstat.analyze(model, (3,)).totals["macs"] == 6


# -- layer counters read records, and own only the figures they return -------------------------------------


class _SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(64, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x)[0]


@pytest.mark.parametrize(
    "build, size",
    [(_SelfAttention, (16, 64)), (lambda: nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True), (5, 6))],
    ids=["attention", "lstm"],
)
def test_a_layer_counter_changes_no_figure_it_does_not_return(build, size, monkeypatch):
    from cnnstat.counting import layers
    from cnnstat.counting.registry import Registry

    registered = {name: cnnstat.analyze(build(), size, convention=name) for name in CONVENTIONS}
    assert len(registered["lenet"].layers) == 1  # the counter makes the layer one row
    monkeypatch.setattr(layers, "LAYER_COUNTERS", Registry("layer counter"))  # every counter unregistered
    for name, report in registered.items():
        assert report.totals == cnnstat.analyze(build(), size, convention=name).totals, name
    if build is _SelfAttention:  # the figure the registered counter used to change, to 299,008
        assert registered["lenet"].totals["flops"] == 304_128
    else:  # what the recurrent counter does own: the closed form --explain shows
        assert registered["lenet"].layers[0].formula == "5·(2·((6+1)+(8+1))·4·8 + 2·((16+1)+(8+1))·4·8)"


def test_a_trace_is_counted_from_its_records_alone():
    import gc
    import pickle

    from cnnstat.counting.report import count_trace
    from cnnstat.counting.trace import trace
    from cnnstat.zoo.resolve import resolve_model

    model = resolve_model("lenet5-1998").module
    records = pickle.dumps(trace(model, (torch.zeros(1, 1, 32, 32, device="meta"),)))  # plain data, with no module in it
    del model
    gc.collect()
    report = count_trace(pickle.loads(records), name="lenet5-1998")
    assert report.totals == cnnstat.analyze("lenet5-1998").totals


def test_layer_counters_give_the_1998_papers_figures_from_hand_written_records():
    """LeCun et al. 1998, section II.B: S2 has 12 parameters and 5,880 connections, C3 1,516 and 151,600."""
    from cnnstat.counting.layers import class_names, count_layer
    from cnnstat.counting.measures import Measures
    from cnnstat.counting.records import LayerRecord, ParamRecord, TensorMeta
    from cnnstat.zoo.lenet_layers import ConnectionTableConv2d, Subsampling

    def record(cls: type, inputs: tuple[int, ...], outputs: tuple[int, ...], params: dict, settings: dict) -> LayerRecord:
        recorded = tuple(ParamRecord(f"layer.{name}", math.prod(shape), True, 4 * math.prod(shape), shape)
                         for name, shape in params.items())  # fmt: skip
        return LayerRecord("layer", cls.__name__, 1, "layer", True, (TensorMeta(inputs, "float32"),),
                           (("", TensorMeta(outputs, "float32")),), (), recorded, classes=class_names(cls), settings=settings)  # fmt: skip

    s2 = record(Subsampling, (1, 6, 28, 28), (1, 6, 14, 14), {"weight": (6,), "bias": (6,)}, {"kernel_size": 2})
    c3 = record(ConnectionTableConv2d, (1, 6, 14, 14), (1, 16, 10, 10), {"weight": (60, 5, 5), "bias": (16,)}, {})
    assert sum(p.numel for p in s2.params) == 12 and sum(p.numel for p in c3.params) == 1_516
    assert count_layer(s2, Measures())[0].connections == 5_880
    measures, owned = count_layer(c3, Measures(macs=7))
    assert measures.connections == 151_600 and measures.macs == 7 and "macs" not in owned


# -- a report prints as its table --------------------------------------------------------------------------


def test_a_report_prints_as_the_summary_table():
    from conftest import GOLDEN

    report = cnnstat.analyze("lenet")
    assert str(report) + "\n" == (GOLDEN / "summary_lenet.txt").read_text()
    assert len(repr(report)) < 120 and "lenet5" in repr(report) and "61,750 params" in repr(report)


def test_a_report_is_a_rich_renderable_and_the_core_imports_no_rich():
    import subprocess
    import sys

    from rich.console import Console

    console = Console(width=120, record=True, color_system=None)
    console.print(cnnstat.analyze("lenet"))
    assert "Total params: 61,750" in console.export_text()
    code = "import sys, cnnstat.counting.report; print('rich' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
