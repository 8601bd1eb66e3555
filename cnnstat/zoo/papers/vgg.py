"""VGG-16 as Simonyan & Zisserman 2014 built it: configuration D of their Table 1.

Table 1 writes each layer as ``conv3-64`` (3×3 receptive field, 64 channels), ``maxpool`` or
``FC-4096``; §2.1 adds the rest: stride 1 and one pixel of padding for every convolution, 2×2 max
pooling at stride 2, ReLU after every hidden layer. The network is built from Table 1's own words,
and each layer's parameters, written out as the hand count writes them, are those entries'
arithmetic: ``conv3-64`` reading 3 channels has (3·3·3+1)·64. Table 2 prints the total, 138 million.
The soft-max that ends Table 1 is left out, as torchvision leaves it out: the model returns logits.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

from torch import nn

from ..published import PublishedFigure
from ..registry import register_model
from .layers import gaussian_init_

SOURCE = "Simonyan & Zisserman 2014"
TABLE_1 = "Simonyan & Zisserman 2014, Table 1 (D)"
TABLE_2 = "Simonyan & Zisserman 2014, Table 2, in millions"

#: Configuration D, column by column as Table 1 prints it (the soft-max row aside).
CONFIGURATION_D = (
    "conv3-64", "conv3-64", "maxpool",
    "conv3-128", "conv3-128", "maxpool",
    "conv3-256", "conv3-256", "conv3-256", "maxpool",
    "conv3-512", "conv3-512", "conv3-512", "maxpool",
    "conv3-512", "conv3-512", "conv3-512", "maxpool",
    "FC-4096", "FC-4096", "FC-1000",
)  # fmt: skip
INPUT = (3, 224, 224)


def _plan(configuration: tuple[str, ...]) -> list[tuple[str, Callable[[], nn.Module], str]]:
    """(name, how to build it, its parameters as the entry's arithmetic) for every layer, ReLUs and dropout included.

    Layers are built only when the model is: the figures are read from this plan at import.
    """
    channels, size = INPUT[0], INPUT[1]
    block, index, hidden = 1, 0, 6
    plan: list[tuple[str, Callable[[], nn.Module], str]] = []
    for position, entry in enumerate(configuration):
        if entry == "maxpool":
            plan.append((f"pool{block}", partial(nn.MaxPool2d, 2, stride=2), ""))
            block, index, size = block + 1, 0, size // 2
        elif match := re.fullmatch(r"conv(\d+)-(\d+)", entry):
            kernel, width = int(match[1]), int(match[2])
            index += 1
            conv = partial(nn.Conv2d, channels, width, kernel, padding=kernel // 2)
            plan += [(f"conv{block}_{index}", conv, f"({channels}·{kernel}·{kernel}+1)·{width}"),
                     (f"relu{block}_{index}", partial(nn.ReLU, inplace=True), "")]  # fmt: skip
            channels = width
        elif match := re.fullmatch(r"FC-(\d+)", entry):
            width = int(match[1])
            if size > 1:
                plan.append(("flatten", nn.Flatten, ""))
            reads = f"{channels}·{size}·{size}" if size > 1 else f"{channels}"
            plan.append((f"fc{hidden}", partial(nn.Linear, channels * size * size, width), f"({reads}+1)·{width}"))
            if position < len(configuration) - 1:  # §3.1: dropout 0.5 after the first two fully connected layers
                plan += [(f"relu{hidden}", partial(nn.ReLU, inplace=True), ""), (f"drop{hidden}", partial(nn.Dropout, 0.5), "")]
            channels, size, hidden = width, 1, hidden + 1
        else:
            raise ValueError(f"not a Table 1 entry: {entry!r}")
    return plan


PUBLISHED = (
    PublishedFigure("params", "138", TABLE_2, unit=10**6),  # "Number of parameters (in millions)", column D
    *(PublishedFigure("params", params, TABLE_1, name) for name, _, params in _plan(CONFIGURATION_D) if params),
)


@register_model("vgg16-2014", input_size=INPUT, source=SOURCE, published=PUBLISHED)
def vgg16_2014() -> nn.Sequential:
    """VGG-16, configuration D, built from Table 1's entries: 13 3×3 convolutions, 5 max pools, 3 fully connected layers."""
    model = nn.Sequential(OrderedDict((name, build()) for name, build, _ in _plan(CONFIGURATION_D)))
    gaussian_init_(model, std=0.1)  # §3.1: weights from a normal distribution of variance 10⁻², biases 0
    return model
