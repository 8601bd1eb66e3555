"""Bytes moved per op: exactly what an independent dispatch mode on real tensors sums, on the classics and random stacks."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import cnnstat
from cnnstat.zoo import resolve_model

CLASSICS = ("lenet5", "alexnet-2012", "vgg16-2014", "googlenet-2014", "resnet50-2015")


class NbytesReference(TorchDispatchMode):
    """Sums ``nbytes`` of each aten op's distinct tensor arguments and results, on real tensors, by op name.

    An op that writes nothing new (every result shares an argument's storage, and its schema mutates nothing) is a
    view: it moves no bytes. Decided from the storages the real kernel returns, not from cnnstat's specs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_op: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        read = {id(t): t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        reads = sum(t.nbytes for t in read.values())
        out = func(*args, **kwargs)
        written = {id(t): t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)}
        storages = {t.untyped_storage().data_ptr() for t in read.values()}
        aliases = all(t.untyped_storage().data_ptr() in storages for t in written.values())
        view = bool(written) and aliases and not func._schema.is_mutable
        self.by_op[func._overloadpacket.__name__] += 0 if view else reads + sum(t.nbytes for t in written.values())
        return out


def reference_bytes(module: nn.Module, x: torch.Tensor) -> Counter[str]:
    reference = NbytesReference()
    with reference:
        module(x)
    return reference.by_op


def counted_bytes(report: cnnstat.Report) -> Counter[str]:
    counted: Counter[str] = Counter()
    for layer in report.layers:
        for op in layer.ops:
            counted[op.record.op] += op.measures.bytes
    return counted


def nonzero(counts: Counter[str]) -> dict[str, int]:
    return {name: value for name, value in counts.items() if value}


@pytest.mark.parametrize("name", CLASSICS)
def test_bytes_of_the_classics_equal_the_dispatch_reference(name):
    torch.manual_seed(0)
    resolved = resolve_model(name, on_meta=False)
    report = cnnstat.analyze(name)
    expected = reference_bytes(resolved.module, torch.randn(*report.input_shape))
    assert nonzero(counted_bytes(report)) == nonzero(expected)
    assert report.totals["bytes"] == sum(expected.values())
    assert sum(layer.bytes for layer in report.layers) == report.totals["bytes"]


class Residual(nn.Module):
    """x + f(x), with the addition in place: a functional row and an op that reads and writes one tensor."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))

    def forward(self, x):
        y = self.body(x)
        y += x
        return torch.relu_(y)


class Concat(nn.Module):
    """Two branches joined along channels, then split back into a view."""

    def __init__(self, channels: int):
        super().__init__()
        self.left = nn.Conv2d(channels, channels, 1)
        self.right = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x):
        joined = torch.cat([self.left(x), self.right(x)], dim=1)
        return joined.narrow(1, 0, x.shape[1]) * x  # the same channels read again, through a view


def random_stack(seed: int) -> tuple[nn.Module, tuple[int, ...]]:
    """A small random CNN: convolutions, norms, activations, pools, residual and concatenating blocks, a head."""
    rng = random.Random(seed)
    channels, size = rng.choice((3, 4, 8)), rng.choice((12, 16, 20))
    layers: list[nn.Module] = [nn.Conv2d(channels, 8, 3, padding=1)]
    for _ in range(rng.randint(2, 6)):
        choice = rng.choice(("conv", "bn", "relu", "gelu", "pool", "residual", "concat", "dropout", "avgpool"))
        if choice == "conv":
            layers.append(nn.Conv2d(8, 8, rng.choice((1, 3)), padding="same", groups=rng.choice((1, 2, 8))))
        elif choice == "bn":
            layers.append(nn.BatchNorm2d(8))
        elif choice == "relu":
            layers.append(nn.ReLU(inplace=rng.random() < 0.5))
        elif choice == "gelu":
            layers.append(nn.GELU())
        elif choice == "pool" and size >= 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        elif choice == "avgpool":
            layers.append(nn.AvgPool2d(3, stride=1, padding=1))
        elif choice == "residual":
            layers.append(Residual(8))
        elif choice == "concat":
            layers.append(Concat(8))
        elif choice == "dropout":
            layers.append(nn.Dropout(0.5))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, rng.choice((2, 10)))]
    return nn.Sequential(*layers), (channels, size, size)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("seed", range(6))
def test_bytes_of_random_stacks_equal_the_dispatch_reference(seed, train):
    torch.manual_seed(seed)
    model, shape = random_stack(seed)
    model.train(train)
    report = cnnstat.analyze(model, [shape], train=train)
    model.train(train)  # the reference runs the model as traced: batch statistics computed and written in training
    assert nonzero(counted_bytes(report)) == nonzero(reference_bytes(model, torch.randn(1, *shape)))


def test_a_view_moves_no_bytes_and_an_in_place_op_reads_and_writes_its_tensor():
    class Shapes(nn.Module):
        def forward(self, x):
            return torch.relu_(x.view(2, 8).t())

    report = cnnstat.analyze(Shapes(), [(16,)])
    by_op = counted_bytes(report)
    assert by_op["view"] == by_op["t"] == 0
    assert by_op["relu_"] == 2 * 16 * 4  # 16 float32 values read, then written back


def test_intensity_is_a_ratio_of_the_row_not_a_sum_and_every_output_carries_it():
    report = cnnstat.analyze("resnet18", convention="flops")
    frame = report.to_pandas()
    assert {"bytes", "intensity"} <= set(frame.columns) and {"bytes", "intensity"} <= set(report.to_dict()["layers"][0])
    from cnnstat.counting.views import by_type

    convolutions = next(row for row in by_type(report).layers if row.name == "Conv2d")
    members = [row for row in report.layers if row.type == "Conv2d"]
    assert convolutions.intensity == sum(r.flops for r in members) / sum(r.bytes for r in members)
    assert convolutions.intensity != sum(r.intensity for r in members)
    assert "intensity" not in report.totals  # a ratio has no total
