"""ResNet-50 as He et al. 2015 built it: the original bottleneck, downsampling on its first 1×1 convolution.

torchvision's ResNet-50 is "v1.5": where a stage halves the resolution, its first block strides on
the 3×3 convolution. In the paper "downsampling is performed by conv3_1, conv4_1, and conv5_1 with a
stride of 2" (Table 1's caption), the first layer of each such block, its 1×1 convolution; the 3×3
convolutions then run at the lower resolution: the same parameters, fewer multiply-adds. Table 1
prints 3.8×10⁹ FLOPs, which §3.3 calls multiply-adds ("3.6 billion FLOPs (multiply-adds)").
"""

from __future__ import annotations

from torch import nn

from ...fast_start import torchvision_builder
from ..published import PublishedFigure
from ..registry import register_model

SOURCE = "He et al. 2015"
TABLE_1 = "He et al. 2015, Table 1"

# 3,857,973,248 multiply-adds would round to 3.9×10⁹: Table 1 cuts the digits off.
PUBLISHED = (PublishedFigure("macs", "3.8×10⁹", TABLE_1, rounding="down"),)


@register_model("resnet50-2015", input_size=(3, 224, 224), source=SOURCE, published=PUBLISHED)
def resnet50_2015() -> nn.Module:
    """ResNet-50 with the stride-2 of each downsampling block on its first 1×1 convolution, as the paper has it."""
    model = torchvision_builder("resnet", "resnet50")(weights=None)
    for stage in (model.layer2, model.layer3, model.layer4):
        first = stage[0]
        first.conv1.stride, first.conv2.stride = (2, 2), (1, 1)
    return model
