"""cnnstat's own Fashion-MNIST nets, tuned for the `fast` and `best` training recipes on a CPU."""

from __future__ import annotations

from torch import nn

from .registry import register_model


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    """3×3 convolution without bias (batch norm supplies it), batch norm, ReLU."""
    return [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


@register_model("fashion-fast", input_size=(1, 28, 28), source="cnnstat")
def fashion_fast() -> nn.Module:
    """Two stride-2 conv blocks and a linear head: 90% on Fashion-MNIST in two CPU epochs."""
    return nn.Sequential(*conv_bn_relu(1, 32, stride=2), *conv_bn_relu(32, 64, stride=2), nn.Flatten(), nn.Linear(64 * 7 * 7, 10))


@register_model("fashion-vgg", input_size=(1, 28, 28), source="cnnstat")
def fashion_vgg() -> nn.Module:
    """A small VGG-style net with batch norm and a flattened 7×7 head, for the `best` recipe.

    The head keeps where on the garment a feature is: with global average pooling instead, the
    same convolutions reached 92.6% rather than 93.6% in the same 14-15 epochs.
    """
    return nn.Sequential(
        *conv_bn_relu(1, 32),
        nn.MaxPool2d(2),
        *conv_bn_relu(32, 64),
        *conv_bn_relu(64, 64),
        nn.MaxPool2d(2),
        *conv_bn_relu(64, 128),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(128 * 7 * 7, 10),
    )
