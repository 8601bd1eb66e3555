"""LeNet-5 as the classic hand count teaches it and as LeCun et al. 1998 built it, and two Fashion-MNIST nets."""

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
from .published import PublishedFigure
from .registry import register_model

HAND_COUNT = "the classic hand count of LeNet-5"
PAPER_1998 = "LeCun et al. 1998, §II.B"


def _hand_count(layer: str, params: str, flops: str, neurons: str, connections: str) -> tuple[PublishedFigure, ...]:
    """One layer of the hand count, its expressions as it prints them (× written ·)."""
    return tuple(
        PublishedFigure(quantity, printed, HAND_COUNT, layer)
        for quantity, printed in (("params", params), ("flops", flops), ("neurons", neurons), ("connections", connections))
    )


# The hand count prints an expression for each figure of C1 … F6; it gives none for the output layer.
HAND_COUNT_LAYERS = (
    *_hand_count("C1", "(5·5+1)·6", "(5·5+1)·6·28·28", "28·28·6", "(5·5+1)·6·28·28"),
    *_hand_count("S2", "(1+1)·6", "(2·2+1)·14·14·6", "14·14·6", "(2·2+1)·14·14·6"),
    *_hand_count("C3", "(6·5·5+1)·16", "(6·5·5+1)·16·10·10", "10·10·16", "(6·5·5+1)·16·10·10"),
    *_hand_count("S4", "(1+1)·16", "(2·2+1)·5·5·16", "5·5·16", "(2·2+1)·5·5·16"),
    *_hand_count("C5", "(16·5·5+1)·120", "(16·5·5+1)·1·1·120", "1·1·120", "(16·5·5+1)·1·1·120"),
    *_hand_count("F6", "(120+1)·84", "(120+1)·84", "84", "(120+1)·84"),
)


def _paper(layer: str, quantity: str, printed: str) -> PublishedFigure:
    return PublishedFigure(quantity, printed, PAPER_1998, layer)


# What the 1998 paper prints in §II.B, layer by layer and in total (it gives no figure for the RBF output).
PAPER_1998_FIGURES = (
    _paper("C1", "trainable_params", "156"), _paper("C1", "connections", "122,304"),
    _paper("S2", "trainable_params", "12"), _paper("S2", "connections", "5,880"),
    _paper("C3", "trainable_params", "1,516"), _paper("C3", "connections", "151,600"),
    _paper("S4", "trainable_params", "32"), _paper("S4", "connections", "2,000"),
    _paper("C5", "trainable_params", "48,120"), _paper("C5", "connections", "48,120"),  # "48,120 trainable connections"
    _paper("F6", "trainable_params", "10,164"),
    _paper("", "trainable_params", "60,000"), _paper("", "connections", "340,908"),
)  # fmt: skip


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


@register_model("lenet5", input_size=(1, 32, 32), source=HAND_COUNT, aliases=("lenet",), published=HAND_COUNT_LAYERS)
def lenet5() -> nn.Module:
    """LeNet-5 as the classic hand count has it: C3 reads all six S2 maps, a fully connected output layer."""
    return _lenet5(nn.Conv2d(6, 16, 5), nn.Sigmoid, nn.Linear(84, 10))


@register_model("lenet5-1998", input_size=(1, 32, 32), source="LeCun et al. 1998", published=PAPER_1998_FIGURES)
def lenet5_1998() -> nn.Module:
    """LeNet-5 as published: Table I's sparse C3, A·tanh(S·a) squashing, Euclidean RBF outputs."""
    model = _lenet5(ConnectionTableConv2d(6, C3_CONNECTION_TABLE, 5), ScaledTanh, EuclideanRBF(84, 10))
    model.apply(fan_in_uniform_)
    return model


@register_model("lenet-fashion", input_size=(1, 28, 28), source="the classic sigmoid LeNet (Dive into Deep Learning)")
def lenet_fashion() -> nn.Module:
    """The sigmoid LeNet of the classic Fashion-MNIST recipe: a padded first layer, average pooling."""
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
    """A batch-normalised Fashion-MNIST CNN, its ReLUs called as functions as it was written."""

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
        # Written to end in log_softmax with NLLLoss; cross-entropy on these outputs is the same loss.
        return F.log_softmax(self.output(x), dim=1)


@register_model("fashion-cnn", input_size=(1, 28, 28), source="a batch-normalised Fashion-MNIST CNN")
def fashion_cnn() -> nn.Module:
    """A batch-normalised Fashion-MNIST CNN with functional ReLUs."""
    return FashionCNN()
