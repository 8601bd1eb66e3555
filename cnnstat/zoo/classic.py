"""The ImageNet classics, from torchvision's builders without weights."""

from __future__ import annotations

from torch import nn

from .registry import register_model
from .torchvision_builders import torchvision_builder

_SOURCE = "torchvision"


@register_model("alexnet", input_size=(3, 224, 224), source=_SOURCE, num_params=61_100_840, macs=714_188_480)
def alexnet() -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012), torchvision's one-tower variant."""
    return torchvision_builder("alexnet", "alexnet")(weights=None)


@register_model("vgg16", input_size=(3, 224, 224), source=_SOURCE, num_params=138_357_544, macs=15_470_264_320)
def vgg16() -> nn.Module:
    """VGG-16 (Simonyan and Zisserman 2014), configuration D without batch norm."""
    return torchvision_builder("vgg", "vgg16")(weights=None)


@register_model("googlenet", input_size=(3, 224, 224), source=_SOURCE, num_params=6_624_904, macs=1_498_376_192)
def googlenet() -> nn.Module:
    """GoogLeNet (Szegedy et al. 2014) without its auxiliary heads, as torchvision publishes it."""
    return torchvision_builder("googlenet", "googlenet")(weights=None, aux_logits=False, init_weights=True)


@register_model("resnet50", input_size=(3, 224, 224), source=_SOURCE, num_params=25_557_032, macs=4_089_184_256)
def resnet50() -> nn.Module:
    """ResNet-50 (He et al. 2015), torchvision's v1.5 (stride on the 3×3 convolution)."""
    return torchvision_builder("resnet", "resnet50")(weights=None)
