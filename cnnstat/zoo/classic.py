"""The ImageNet classics as torchvision builds them, without weights.

torchvision publishes each one's parameter count and GFLOPS with its weights; ``check`` reads
those figures from torchvision itself rather than keeping copies here.
"""

from __future__ import annotations

from torch import nn

from ..fast_start import torchvision_builder
from .registry import register_model

_SOURCE = "torchvision"


@register_model("alexnet", input_size=(3, 224, 224), source=_SOURCE, torchvision_name="alexnet")
def alexnet() -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012), torchvision's one-tower variant."""
    return torchvision_builder("alexnet", "alexnet")(weights=None)


@register_model("vgg16", input_size=(3, 224, 224), source=_SOURCE, torchvision_name="vgg16")
def vgg16() -> nn.Module:
    """VGG-16 (Simonyan and Zisserman 2014), configuration D without batch norm."""
    return torchvision_builder("vgg", "vgg16")(weights=None)


@register_model("googlenet", input_size=(3, 224, 224), source=_SOURCE, torchvision_name="googlenet")
def googlenet() -> nn.Module:
    """GoogLeNet (Szegedy et al. 2014) without its auxiliary heads, as torchvision publishes it."""
    return torchvision_builder("googlenet", "googlenet")(weights=None, aux_logits=False, init_weights=True)


@register_model("resnet50", input_size=(3, 224, 224), source=_SOURCE, torchvision_name="resnet50")
def resnet50() -> nn.Module:
    """ResNet-50 (He et al. 2015), torchvision's v1.5 (stride on the 3×3 convolution)."""
    return torchvision_builder("resnet", "resnet50")(weights=None)
