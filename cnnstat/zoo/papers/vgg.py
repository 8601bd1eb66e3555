"""VGG-16 as Simonyan & Zisserman 2014 built it: configuration D of their Table 1.

Table 1 writes each layer as ``conv3-64`` (3×3 receptive field, 64 channels), ``maxpool`` or
``FC-4096``; §2.1 adds the rest: stride 1 and one pixel of padding for every convolution, 2×2 max
pooling at stride 2, ReLU after every hidden layer. The network is built from Table 1's own words.
Table 1 prints no parameter counts: the one figure the paper prints for D is Table 2's total, 138
million. The soft-max that ends Table 1 is left out, as torchvision leaves it out: the model returns
logits.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from torch import nn

from ..published import PublishedFigure
from ..registry import register_model
from .layers import gaussian_init_

SOURCE = "Simonyan & Zisserman 2014"

#: Configuration D, column by column as Table 1 prints it (the soft-max row aside): a kernel size and a
#: channel count per convolution, a width per fully connected layer, and nothing else.
CONFIGURATION_D = (
    "conv3-64", "conv3-64", "maxpool",
    "conv3-128", "conv3-128", "maxpool",
    "conv3-256", "conv3-256", "conv3-256", "maxpool",
    "conv3-512", "conv3-512", "conv3-512", "maxpool",
    "conv3-512", "conv3-512", "conv3-512", "maxpool",
    "FC-4096", "FC-4096", "FC-1000",
)  # fmt: skip
INPUT = (3, 224, 224)

PUBLISHED = (
    # "Number of parameters (in millions)", column D: printed as 138, so compared at whole millions
    PublishedFigure("params", "138", "Simonyan & Zisserman 2014, Table 2, in millions", unit=10**6),
)


def _layers(configuration: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """Every layer of a Table 1 column, ReLUs and dropout included, named conv1_1 … fc8 by block and position."""
    channels, size = INPUT[0], INPUT[1]
    block, index, hidden = 1, 0, 6
    layers: list[tuple[str, nn.Module]] = []
    for position, entry in enumerate(configuration):
        if entry == "maxpool":
            layers.append((f"pool{block}", nn.MaxPool2d(2, stride=2)))
            block, index, size = block + 1, 0, size // 2
        elif match := re.fullmatch(r"conv(\d+)-(\d+)", entry):
            kernel, width = int(match[1]), int(match[2])
            index += 1
            layers += [(f"conv{block}_{index}", nn.Conv2d(channels, width, kernel, padding=kernel // 2)),
                       (f"relu{block}_{index}", nn.ReLU(inplace=True))]  # fmt: skip
            channels = width
        elif match := re.fullmatch(r"FC-(\d+)", entry):
            width = int(match[1])
            if size > 1:
                layers.append(("flatten", nn.Flatten()))
            layers.append((f"fc{hidden}", nn.Linear(channels * size * size, width)))
            if position < len(configuration) - 1:  # §3.1: dropout 0.5 after the first two fully connected layers
                layers += [(f"relu{hidden}", nn.ReLU(inplace=True)), (f"drop{hidden}", nn.Dropout(0.5))]
            channels, size, hidden = width, 1, hidden + 1
        else:
            raise ValueError(f"not a Table 1 entry: {entry!r}")
    return layers


@register_model("vgg16-2014", input_size=INPUT, source=SOURCE, published=PUBLISHED)
def vgg16_2014() -> nn.Sequential:
    """VGG-16, configuration D, built from Table 1's entries: 13 3×3 convolutions, 5 max pools, 3 fully connected layers."""
    model = nn.Sequential(OrderedDict(_layers(CONFIGURATION_D)))
    gaussian_init_(model, std=0.1)  # §3.1: weights from a normal distribution of variance 10⁻², biases 0
    return model
