"""The sample project's models: a small CNN for 3×32×32 images, and a wider one added later."""

from collections import OrderedDict

from torch import nn

KERNEL = 3  # the test edits this line to change the architecture


def build() -> nn.Module:
    """Two convolutions, a pooled head: 10 classes."""
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 16, KERNEL, padding=KERNEL // 2), relu1=nn.ReLU(), pool=nn.MaxPool2d(2),
        conv2=nn.Conv2d(16, 32, KERNEL, padding=KERNEL // 2), relu2=nn.ReLU(),
        gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(32, 10),
    ))  # fmt: skip


def wide() -> nn.Module:
    """The same shape with twice the channels."""
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 32, 3, padding=1), relu1=nn.ReLU(), pool=nn.MaxPool2d(2),
        conv2=nn.Conv2d(32, 64, 3, padding=1), relu2=nn.ReLU(),
        gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(64, 10),
    ))  # fmt: skip
