"""Counts against independent references: FlopCounterMode, fvcore, brute-force link enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.counting import views
from cnnstat.counting.report import Report
from cnnstat.counting.specs import SPECS, OpKind, spec_of
from cnnstat.zoo import list_models, resolve_model, torchvision_families

CLASSIFIERS = [name for name, family in torchvision_families().items() if family == "classification"]


def flop_counter_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    counter = FlopCounterMode(display=False)
    device = next(module.parameters()).device
    with counter, torch.no_grad():
        module(torch.zeros(shape, device=device))
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


@pytest.mark.parametrize("name", list_models())
def test_macs_equal_flop_counter_mode_for_the_zoo(name):
    resolved = resolve_model(name)
    report = cnnstat.analyze(name)
    assert report.totals["macs"] == flop_counter_macs(resolved.module, report.input_shape)
    assert not report.uncounted


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_macs_equal_flop_counter_mode_for_every_torchvision_classifier(name):
    resolved = resolve_model(name)
    report = cnnstat.analyze(name)
    assert report.totals["macs"] == flop_counter_macs(resolved.module, report.input_shape)
    assert report.totals["params"] == sum(p.numel() for p in resolved.module.parameters())
    assert not report.uncounted, report.uncounted


FVCORE_MODELS = {
    "lenet5": None, "lenet-fashion": None, "fashion-cnn": None, "alexnet": (3, 112, 112),
    "resnet50": (3, 64, 64), "googlenet": (3, 64, 64), "vgg16": (3, 32, 32), "mobilenet_v2": (3, 64, 64),
}  # fmt: skip


def _per_module(report: Report, column: str) -> dict[str, int]:
    """``column`` of every module at every depth ("" the whole model), as the ``--depth`` views group it."""
    deepest = max((layer.module.count(".") + 1 for layer in report.layers if layer.module), default=0)
    sums = {"": report.totals[column]}
    for depth in range(1, deepest + 1):
        sums.update({row.module: getattr(row, column) for row in views.by_depth(report, depth).layers
                     if row.depth == depth and row.name == row.module})  # fmt: skip
    return sums


@pytest.mark.parametrize("name", FVCORE_MODELS)
def test_fvcore_convention_equals_fvcore_per_module(name):
    from fvcore.nn import FlopCountAnalysis

    real = resolve_model(name, on_meta=False)
    size = FVCORE_MODELS[name] or real.input_size
    analysis = FlopCountAnalysis(real.module, torch.randn(1, *size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    report = cnnstat.analyze(name, size, convention="fvcore")
    ours = _per_module(report, "flops")
    theirs = analysis.by_module()
    assert report.totals["flops"] == analysis.total()
    for module_name, value in ours.items():
        assert value == theirs[module_name], module_name


def brute_force_conv_links(conv: nn.Conv2d, height: int, width: int) -> int:
    """Count links by visiting every output unit and every kernel tap: the definition itself."""
    out_h = (height + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1) // conv.stride[0] + 1
    out_w = (width + 2 * conv.padding[1] - conv.dilation[1] * (conv.kernel_size[1] - 1) - 1) // conv.stride[1] + 1
    in_per_group = conv.in_channels // conv.groups
    links = 0
    for _, oy, ox in itertools.product(range(conv.out_channels), range(out_h), range(out_w)):
        for _, ky, kx in itertools.product(range(in_per_group), range(conv.kernel_size[0]), range(conv.kernel_size[1])):
            iy = oy * conv.stride[0] - conv.padding[0] + ky * conv.dilation[0]
            ix = ox * conv.stride[1] - conv.padding[1] + kx * conv.dilation[1]
            links += 0 <= iy < height and 0 <= ix < width
        links += conv.bias is not None
    return links


def brute_force_pool_links(pool: nn.Module, channels: int, height: int, width: int) -> int:
    """Visit every pooling window of a real output and count the taps that fall inside the input."""
    out = pool(torch.zeros(1, channels, height, width))
    k, s, p = (pool.kernel_size,) * 2, (pool.stride,) * 2, (pool.padding,) * 2
    dilation = getattr(pool, "dilation", 1)
    links = 0
    for oy, ox in itertools.product(range(out.shape[2]), range(out.shape[3])):
        for ky, kx in itertools.product(range(k[0]), range(k[1])):
            iy, ix = oy * s[0] - p[0] + ky * dilation, ox * s[1] - p[1] + kx * dilation
            links += 0 <= iy < height and 0 <= ix < width
    return links * channels


def single_layer_report(layer: nn.Module, shape: tuple[int, ...]):
    return cnnstat.analyze(layer, shape)


def test_padded_conv_formula_overcounts_by_the_links_onto_padding():
    conv = nn.Conv2d(1, 6, 5, padding=2)  # lenet-fashion's first layer
    row = single_layer_report(conv, (1, 28, 28)).layers[0]
    assert row.formula_connections == (1 * 25 + 1) * 6 * 28 * 28 == 122_304
    assert row.connections == brute_force_conv_links(conv, 28, 28) == 134 * 134 * 6 + 6 * 28 * 28 == 112_440
    assert row.connections < row.formula_connections


@settings(max_examples=60, deadline=None)
@given(
    in_per_group=st.integers(1, 3), out_per_group=st.integers(1, 3), groups=st.integers(1, 2),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.integers(1, 3), padding=st.integers(0, 3),
    dilation=st.integers(1, 2), bias=st.booleans(), height=st.integers(4, 9), width=st.integers(4, 9),
)  # fmt: skip
def test_conv_connections_equal_brute_force(
    in_per_group, out_per_group, groups, kernel, stride, padding, dilation, bias, height, width
):
    effective = [dilation * (k - 1) + 1 for k in kernel]
    if any(e > size + 2 * padding for e, size in zip(effective, (height, width), strict=True)):
        return  # no output
    conv = nn.Conv2d(in_per_group * groups, out_per_group * groups, kernel, stride, padding, dilation, groups, bias)
    row = single_layer_report(conv, (conv.in_channels, height, width)).layers[0]
    assert row.connections == brute_force_conv_links(conv, height, width)
    assert row.macs == flop_counter_macs(conv, (1, conv.in_channels, height, width))


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["max", "avg"]), kernel=st.integers(1, 4), stride=st.integers(1, 3),
    padding=st.integers(0, 2), ceil_mode=st.booleans(), size=st.integers(4, 10),
)  # fmt: skip
def test_pool_connections_equal_brute_force(kind, kernel, stride, padding, ceil_mode, size):
    if padding > kernel // 2:
        return  # torch rejects padding over half the kernel
    pool = (nn.MaxPool2d if kind == "max" else nn.AvgPool2d)(kernel, stride, padding, ceil_mode=ceil_mode)
    row = single_layer_report(pool, (2, size, size)).layers[0]
    assert row.connections == brute_force_pool_links(pool, 2, size, size)


def test_functional_ops_are_rows_of_their_own():
    report = cnnstat.analyze("resnet50")
    adds = [layer for layer in report.layers if layer.name == "layer1.0.add_"]
    assert len(adds) == 1 and adds[0].elementwise == 256 * 56 * 56
    assert any(layer.name == "flatten" and not layer.is_module for layer in report.layers)
    relus = [layer for layer in cnnstat.analyze("fashion-cnn").layers if layer.type == "relu"]
    assert len(relus) == 4  # fashion-cnn's functional F.relu / torch.relu calls


def test_unknown_ops_are_reported_not_zero():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1)

    report = cnnstat.analyze(Odd(), (3, 4, 4))
    assert report.uncounted == [("Odd", "cumsum")]


def test_an_op_without_a_spec_is_unknown_to_every_measure_alike():
    from fvcore.nn import FlopCountAnalysis

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return torch.cumsum(self.conv(x), dim=3)  # unit w of the output reads every column up to w

    assert spec_of("cumsum") is None
    report = cnnstat.analyze(Odd(), (1, 8, 8))
    assert report.uncounted == [("cumsum", "cumsum")]
    assert report.receptive_field is None
    assert report.receptive_field_unknown == "aten::cumsum has no receptive-field rule, in cumsum"
    analysis = FlopCountAnalysis(Odd(), torch.zeros(1, 1, 8, 8))
    analysis.unsupported_ops_warnings(False)
    assert report.with_convention("fvcore").totals["flops"] == analysis.total()
    assert "aten::cumsum" in analysis.unsupported_ops()  # fvcore knows no handle for it either


def test_the_op_kinds_with_products_are_the_ops_torch_counts_products_of():
    from torch.utils.flop_counter import flop_registry

    counted = {op.__name__ for op in flop_registry}  # overload packets: aten.mm
    kinds = (OpKind.CONVOLUTION, OpKind.MATRIX_PRODUCT, OpKind.ATTENTION)
    ours = {name for name in SPECS if spec_of(name).kind in kinds}
    # torch's FlopCounterMode registers no formula for the CPU's fused attention kernel (it counts it as 0)
    assert ours - counted == {"_scaled_dot_product_flash_attention_for_cpu"}
    for name in counted - ours:  # device kernels and backward ops, which a meta trace never records
        assert name.endswith(("_backward", "_forward")) or name.startswith(("cudnn", "_slow", "_scaled_mm", "flex", "convolution_"))


def test_meta_tracing_costs_the_same_at_any_input_size():
    small = cnnstat.analyze("vgg16", (3, 224, 224))
    large = cnnstat.analyze("vgg16", (3, 2048, 2048))
    assert large.totals["params"] == small.totals["params"]
    assert large.totals["macs"] > 80 * small.totals["macs"]


def test_batch_scales_every_count():
    one, four = cnnstat.analyze("lenet5"), cnnstat.analyze("lenet5", batch=4)
    for key in ("macs", "flops", "connections", "neurons"):
        assert four.totals[key] == 4 * one.totals[key]
    assert four.totals["params"] == one.totals["params"]
