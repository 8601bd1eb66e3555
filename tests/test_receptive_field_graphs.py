"""Receptive fields of random graphs against torch's own gradients: exact, or declared unknown, never wrong.

Each example is a small network drawn by hypothesis: convolutions (kernel, stride, padding,
dilation), average and max pooling, interpolation, transposes, slices, a concatenation of two
branches, a residual addition, then a head that permutes, reshapes, flattens, selects, runs a GRU
or an LSTM over rows, attention over pixels, or a fully connected layer. The reference is autograd
in float64: for output units along a cross through the output's centre, the input pixels on which
d(unit)/d(input) is non-zero, united over a few random inputs and weights; its extent along each
axis, the largest over those units, is the footprint of the widest unit, which is what cnnstat
reports. A max pool passes gradient to one pixel of its window, the one its input values choose:
the reference takes average pooling of the same geometry in its place, which reads every pixel a
max can choose.

A footprint that covers a whole axis includes the zero padding a convolution reads at its borders
(docs/receptive-field.md), which no gradient reaches; heads that make an axis whole are therefore
drawn without padding.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from torch import nn

import cnnstat

PROBE = 32  # input size for the first analysis, which sizes the second
LARGEST = 96  # inputs larger than this are skipped, to keep the test fast


class Conv(nn.Module):
    def __init__(self, channels: int, kernel: int, stride: int, padding: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, kernel, stride=stride, padding=padding, dilation=dilation)

    def forward(self, x):
        return torch.tanh(self.conv(x))  # no dead zones: every tap passes gradient


class Pool(nn.Module):
    def __init__(self, kind: str, kernel: int, stride: int, padding: int):
        super().__init__()
        pool = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
        self.pool = pool(kernel, stride=stride, padding=padding)

    def forward(self, x):
        return self.pool(x)


class Interpolate(nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        return nn.functional.interpolate(x, scale_factor=2, mode=self.mode)


class Transpose(nn.Module):
    def forward(self, x):
        return x.transpose(2, 3)


class Slice(nn.Module):
    def __init__(self, dim: int, start: int, step: int):
        super().__init__()
        self.dim, self.start, self.step = dim, start, step

    def forward(self, x):
        return x[:, :, self.start :: self.step] if self.dim == 2 else x[:, :, :, self.start :: self.step]


class Branches(nn.Module):
    """An Inception-like pair, a convolution beside average pooling and a 1×1 convolution, joined along channels.

    The larger branch is cropped to the smaller's size from ``shift``: off centre, the branches' footprints need not nest.
    """

    def __init__(self, channels: int, kernel: int, padded: bool, shift: int):
        super().__init__()
        self.wide = nn.Conv2d(channels, 1, kernel, padding=kernel // 2 if padded else 0)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1 if padded else 0)
        self.narrow = nn.Conv2d(channels, 1, 1)
        self.shift = shift

    def forward(self, x):
        wide, narrow = self.wide(x), self.narrow(self.pool(x))
        size = min(wide.shape[2], narrow.shape[2]), min(wide.shape[3], narrow.shape[3])
        wide, narrow = (self._crop(branch, size) for branch in (wide, narrow))
        return torch.tanh(torch.cat([wide, narrow], dim=1))

    def _crop(self, branch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        top, left = (min(self.shift, branch.shape[2 + d] - size[d]) for d in range(2))
        return branch[:, :, top : top + size[0], left : left + size[1]]


class Residual(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)

    def forward(self, x):
        return torch.tanh(x + self.conv(x))


class Head(nn.Module):
    """What follows the convolutional body; its layers are sized from the body's output shape."""

    def __init__(self, kind: str, shape: tuple[int, ...]):
        super().__init__()
        _, channels, height, width = shape
        self.kind = kind
        if kind == "flatten-linear":
            self.linear = nn.Linear(channels * height * width, 3)
        elif kind in ("rows-linear", "rows-gru", "rows-lstm"):
            features = channels * width
            self.linear = nn.Linear(features if kind == "rows-linear" else 5, 3)
            if kind == "rows-gru":
                self.recurrent = nn.GRU(features, 5, batch_first=True)
            elif kind == "rows-lstm":
                self.recurrent = nn.LSTM(features, 5, batch_first=True)
        elif kind == "attention":
            self.attention = nn.MultiheadAttention(channels, 1, batch_first=True)

    def forward(self, x):
        if self.kind == "flatten":
            return x.flatten(1)
        if self.kind == "flatten-linear":
            return self.linear(x.flatten(1))
        if self.kind == "select":
            return x[:, :, x.shape[2] // 2]
        if self.kind == "mean":
            return x.mean(dim=(2, 3))
        if self.kind.startswith("rows"):
            rows = x.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1)  # (batch, height, channels·width)
            if self.kind == "rows":
                return rows
            if self.kind == "rows-linear":
                return self.linear(rows)
            return self.linear(self.recurrent(rows)[0][:, -1])
        if self.kind == "attention":
            tokens = x.flatten(2).transpose(1, 2)  # (batch, pixels, channels)
            return self.attention(tokens, tokens, tokens)[0]
        return x


WHOLE = {"flatten-linear", "mean", "rows-linear", "rows-gru", "rows-lstm", "attention"}  # heads that mix a whole axis
EVERY_AXIS_WHOLE = WHOLE - {"rows-linear"}  # every unit of their output sees the whole input: no border to keep off


class Graph(nn.Module):
    def __init__(self, body: list[nn.Module], head: str, size: int):
        super().__init__()
        self.body = nn.Sequential(*body)
        with torch.no_grad():
            self.body_shape = tuple(self.body(torch.zeros(1, 1, size, size)).shape)
        self.head = Head(head, self.body_shape)

    def forward(self, x):
        return self.head(self.body(x))


@st.composite
def plans(draw):
    """A body of stage descriptions and a head; padding only where no axis is made whole."""
    head = draw(st.sampled_from(["none", "flatten", "flatten-linear", "select", "mean", "rows", "rows-linear", "rows-gru",
                                 "rows-lstm", "attention"]))  # fmt: skip
    padded = head not in WHOLE
    stages = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "interpolate", "transpose", "slice", "branches",
                                     "residual"]))  # fmt: skip
        if kind == "conv":
            kernel = draw(st.integers(1, 4))
            padding = draw(st.integers(0, kernel // 2)) if padded else 0
            stages.append(("conv", kernel, draw(st.integers(1, 2)), padding, draw(st.integers(1, 2))))
        elif kind in ("maxpool", "avgpool"):
            kernel = draw(st.integers(2, 3))
            padding = draw(st.integers(0, kernel // 2)) if padded else 0
            stages.append((kind, kernel, draw(st.integers(1, 2)), padding))
        elif kind == "interpolate":
            stages.append((kind, draw(st.sampled_from(["nearest", "bilinear"]))))
        elif kind == "slice":
            stages.append((kind, draw(st.integers(2, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))))
        elif kind == "branches":
            stages.append((kind, draw(st.sampled_from([1, 3, 5])), padded, draw(st.integers(0, 2))))
        elif kind == "residual":
            stages.append((kind, draw(st.sampled_from([1, 3])) if padded else 1))
        else:
            stages.append((kind,))
    return stages, head


def build(plan: tuple[list[tuple], str], size: int, seed: int = 0, max_as_average: bool = False) -> Graph:
    """The planned network on ``size``² inputs, its weights drawn from ``seed``."""
    torch.manual_seed(seed)
    stages, head = plan
    body, channels = [], 1
    for stage in stages:
        kind, *args = stage
        if kind == "conv":
            body.append(Conv(channels, *args))
            channels = 2
        elif kind in ("maxpool", "avgpool"):
            body.append(Pool("avg" if max_as_average else kind.removesuffix("pool"), *args))
        elif kind == "interpolate":
            body.append(Interpolate(*args))
        elif kind == "transpose":
            body.append(Transpose())
        elif kind == "slice":
            body.append(Slice(*args))
        elif kind == "branches":
            body.append(Branches(channels, *args))
            channels = 2
        else:
            body.append(Residual(channels, *args))
    return Graph(body, head, size)


def _positions(length: int) -> set[int]:
    """Every position of a short dimension; of a long (flattened) one, windows around its quarter points."""
    if length <= 150:
        return set(range(length))
    return {i for quarter in (1, 2, 3) for i in range(quarter * length // 4 - 20, quarter * length // 4 + 21) if i < length}


def gradient_extent(plan: tuple[list[tuple], str], size: int) -> tuple[int, int]:
    """Per input axis, the widest extent of input pixels whose gradient reaches one output unit (a cross of units)."""
    models = [build(plan, size, seed, max_as_average=True).double() for seed in range(3)]
    inputs = [torch.randn(1, 1, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) for seed in range(3)]
    outputs = []
    for model, x in zip(models, inputs, strict=True):
        x.requires_grad_(True)
        outputs.append((model(x), x))
    shape = outputs[0][0].shape
    centre = [n // 2 for n in shape]
    units = {tuple(centre[:d] + [i] + centre[d + 1 :]) for d in range(1, len(shape)) for i in _positions(shape[d])}
    widest = [0, 0]
    for unit in units:
        reached = torch.zeros(size, size, dtype=torch.bool)
        for out, x in outputs:
            (grad,) = torch.autograd.grad(out[(0, *unit[1:])], x, retain_graph=True)
            reached |= grad[0, 0] != 0
        rows, cols = reached.nonzero(as_tuple=True)
        if len(rows):
            widest[0] = max(widest[0], int(rows.max() - rows.min() + 1))
            widest[1] = max(widest[1], int(cols.max() - cols.min() + 1))
    return widest[0], widest[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(plans())
def test_the_receptive_field_is_the_gradient_footprint_or_unknown(plan):
    try:
        model = build(plan, PROBE)
    except RuntimeError:  # the body shrinks the probe input to nothing
        assume(False)
    assume(plan[1] != "attention" or model.body_shape[2] * model.body_shape[3] <= 400)  # keep the reference fast
    probe = cnnstat.analyze(model, (1, PROBE, PROBE))
    if probe.receptive_field is None:
        assert probe.receptive_field_unknown, "a figure is missing without a reason"
        event(f"unknown: {probe.receptive_field_unknown.split(',')[0]}")
        return
    strides = [s for layer in probe.layers[-1:] for s in layer.effective_stride or () if s is not None]
    size = PROBE if plan[1] in EVERY_AXIS_WHOLE else max(PROBE, 2 * max(probe.receptive_field) + 4 * int(max(strides, default=1)) + 8)
    assume(size <= LARGEST)
    report = cnnstat.analyze(build(plan, size), (1, size, size))
    if report.receptive_field is None:
        assert report.receptive_field_unknown
        event(f"unknown: {report.receptive_field_unknown.split(',')[0]}")
        return
    event(f"exact, head {plan[1]}")
    assert report.receptive_field == gradient_extent(plan, size)


def test_an_lstm_over_rows_is_declared_unknown_naming_its_module():
    # the model: conv, max pool, rows as a sequence, an LSTM, its last step, a linear layer
    model = build(([("conv", 3, 1, 0, 1), ("maxpool", 2, 2, 0)], "rows-lstm"), 28)
    report = cnnstat.analyze(model, (1, 28, 28))
    assert report.receptive_field is None
    assert "LSTM" in report.receptive_field_unknown and "aten::" in report.receptive_field_unknown
