"""LeNet-5 as in seed 004 and as in LeCun et al. 1998, and the Fashion-MNIST nets of seeds 000/001."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .lenet_layers import (
    C3_CONNECTION_TABLE,
    ConnectionTableConv2d,
    EuclideanRBF,
    ScaledTanh,
    Subsampling,
    fan_in_uniform_,
    scaled_tanh,
)
from .registry import PaperLayer, register_model

# Seed 004's per-layer table: (a·k²+1)·b params and (a·k²+1)·b·m² connections for C-layers,
# 2a and (k²+1)·m²·a for S-layers, (in+1)·out for the fully connected ones.
SEED_004_LAYERS = (
    PaperLayer("C1", 156, 122_304),
    PaperLayer("S2", 12, 5_880),
    PaperLayer("C3", 2_416, 241_600),
    PaperLayer("S4", 32, 2_000),
    PaperLayer("C5", 48_120, 48_120),
    PaperLayer("F6", 10_164, 10_164),
    PaperLayer("output", 850, 850),
)

# LeCun et al. 1998, section II.B: C3 with Table I's 60 links, Euclidean RBF outputs.
PAPER_1998_LAYERS = (
    *SEED_004_LAYERS[:2],
    PaperLayer("C3", 1_516, 151_600),
    *SEED_004_LAYERS[3:6],
    PaperLayer("output", 0, 840),
)


def _lenet5(c3: nn.Module, squash: type[nn.Module], output: nn.Module) -> nn.Sequential:
    squash_fn = scaled_tanh if squash is ScaledTanh else torch.sigmoid
    return nn.Sequential(
        OrderedDict(
            C1=nn.Conv2d(1, 6, 5),
            C1_squash=squash(),
            S2=Subsampling(6, squash=squash_fn),
            C3=c3,
            C3_squash=squash(),
            S4=Subsampling(16, squash=squash_fn),
            C5=nn.Conv2d(16, 120, 5),
            C5_squash=squash(),
            flatten=nn.Flatten(),
            F6=nn.Linear(120, 84),
            F6_squash=squash(),
            output=output,
        )
    )


@register_model(
    "lenet5",
    input_size=(1, 32, 32),
    source="seed 004",
    aliases=("lenet",),
    num_params=sum(layer.params for layer in SEED_004_LAYERS),
    connections=sum(layer.connections for layer in SEED_004_LAYERS),
    paper_layers=SEED_004_LAYERS,
    num_classes=10,
)
def lenet5() -> nn.Module:
    """LeNet-5 as seed 004 counts it: C3 reads all six S2 maps, a fully connected output layer."""
    return _lenet5(nn.Conv2d(6, 16, 5), nn.Sigmoid, nn.Linear(84, 10))


@register_model(
    "lenet5-1998",
    input_size=(1, 32, 32),
    source="LeCun et al. 1998",
    trainable_params=60_000,
    connections=340_908,
    paper_layers=PAPER_1998_LAYERS,
    num_classes=10,
)
def lenet5_1998() -> nn.Module:
    """LeNet-5 as published: Table I's sparse C3, A·tanh(S·a) squashing, Euclidean RBF outputs."""
    model = _lenet5(ConnectionTableConv2d(6, C3_CONNECTION_TABLE, 5), ScaledTanh, EuclideanRBF(84, 10))
    model.apply(fan_in_uniform_)
    return model


@register_model(
    "lenet-fashion",
    input_size=(1, 28, 28),
    source="seed 000",
    num_params=61_706,
    num_classes=10,
)
def lenet_fashion() -> nn.Module:
    """The Fashion-MNIST LeNet of seed 000."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, 5),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, 10),
    )


class FashionCNN(nn.Module):
    """The batch-normalised Fashion-MNIST CNN of seed 001 (its functional ReLUs kept as written)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.pool2 = nn.MaxPool2d(2)
        self.linear1 = nn.Linear(16 * 5 * 5, 128)
        self.output = nn.Linear(128, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.conv1(self.bn(x))))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.relu(x.flatten(1))
        x = torch.relu(self.linear1(x))
        # Seed 001 ends in log_softmax and NLLLoss; cross-entropy on these outputs is the same loss.
        return F.log_softmax(self.output(x), dim=1)


@register_model(
    "fashion-cnn",
    input_size=(1, 28, 28),
    source="seed 001",
    num_classes=10,
)
def fashion_cnn() -> nn.Module:
    """The batch-normalised CNN of seed 001."""
    return FashionCNN()
