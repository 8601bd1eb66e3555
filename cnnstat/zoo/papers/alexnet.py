"""AlexNet as Krizhevsky et al. 2012 built it: two GPUs, response normalisation, overlapping pooling.

The paper trains one network split over two GPUs: conv2, conv4 and conv5 read only the maps on their
own GPU, conv3 and the fully connected layers read both. A grouped convolution (``groups=2``) is that
split exactly. The input is 227×227: the paper says 224, but its first layer's 55×55 maps are
(227−11)/4+1; from 224 an 11×11 kernel at stride 4 gives 54 (and a remainder).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..published import PublishedFigure
from ..registry import register_model
from .layers import gaussian_init_

SOURCE = "Krizhevsky et al. 2012"
ABSTRACT = "Krizhevsky et al. 2012, abstract"
ARCHITECTURE = "Krizhevsky et al. 2012, §3.5"  # "the number of neurons in the network's remaining layers is …"


def _neurons(layer: str, printed: str, **why: str) -> PublishedFigure:
    return PublishedFigure("neurons", printed, ARCHITECTURE, layer, **why)


PUBLISHED = (
    PublishedFigure("params", "60 million", ABSTRACT, rounding="down"),
    # The paper's first figure is not its first layer's 55·55·96 maps; nobody has found what it counts.
    _neurons("conv1", "253,440", contradicts="55·55·96", note="55 = (227−11)/4+1, its 11×11 kernels at stride 4"),
    _neurons("conv2", "186,624"),
    _neurons("conv3", "64,896"),
    _neurons("conv4", "64,896"),
    _neurons("conv5", "43,264"),
    _neurons("fc6", "4096"),
    _neurons("fc7", "4096"),
    _neurons("fc8", "1000"),
)


def local_response_norm() -> nn.LocalResponseNorm:
    """§3.3: k = 2, n = 5, α = 10⁻⁴, β = 0.75; torch divides α by n, the paper does not, so α·n here."""
    return nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)


@register_model("alexnet-2012", input_size=(3, 227, 227), source=SOURCE, published=PUBLISHED)
def alexnet_2012(grouped: bool = True, normalised: bool = True) -> nn.Sequential:
    """AlexNet as published: the two-GPU split as grouped convolutions, LRN after conv1 and conv2, 3×3/2 max pooling.

    ``grouped=False`` and ``normalised=False`` build it with one dense tower or without LRN, to measure each.
    """
    groups = 2 if grouped else 1

    def norm(name: str) -> list[tuple[str, nn.Module]]:
        return [(name, local_response_norm())] if normalised else []

    model = nn.Sequential(
        OrderedDict([
            ("conv1", nn.Conv2d(3, 96, 11, stride=4)), ("relu1", nn.ReLU(inplace=True)), *norm("norm1"),
            ("pool1", nn.MaxPool2d(3, stride=2)),
            ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=groups)), ("relu2", nn.ReLU(inplace=True)), *norm("norm2"),
            ("pool2", nn.MaxPool2d(3, stride=2)),
            ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=groups)), ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=groups)), ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(3, stride=2)),
            ("flatten", nn.Flatten()),
            ("fc6", nn.Linear(256 * 6 * 6, 4096)), ("relu6", nn.ReLU(inplace=True)), ("drop6", nn.Dropout(0.5)),
            ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)), ("drop7", nn.Dropout(0.5)),
            ("fc8", nn.Linear(4096, 1000)),
        ])
    )  # fmt: skip
    # §5: weights from N(0, 0.01²); biases 1 in conv2, conv4, conv5 and the hidden fully connected layers, else 0
    gaussian_init_(model, std=0.01, bias_one=("conv2", "conv4", "conv5", "fc6", "fc7"))
    return model
