"""GoogLeNet as Szegedy et al. 2014 built it: Table 1, with response normalisation and biases.

Figure 3 places local response normalisation after the first max pool and after the second
convolution; there is no batch norm (that came in 2015), every convolution has a bias and a ReLU,
the 5×5 branches are 5×5, and at inference the auxiliary classifiers are gone. Max pooling rounds
its output up, as in the authors' Caffe model (112 → 56). The soft-max row is left out, as
torchvision leaves it out: the model returns logits.

Table 1 prints each row's parameters ("params", in weights) and multiply-adds ("ops"). Where a
printed figure does not follow from the table's own columns, the figure carries the arithmetic
that does, and ``cnnstat check`` shows it: none of the params column follows with K read as 1,000,
and three of the ops.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
from torch import nn

from ..published import PublishedFigure
from ..registry import register_model

SOURCE = "Szegedy et al. 2014"
TABLE_1 = "Szegedy et al. 2014, Table 1"
BUDGET = "Szegedy et al. 2014, §1"  # "a computational budget of 1.5 billion multiply-adds at inference time"

#: Table 1's inception rows as printed: output size; #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj; params; ops.
INCEPTIONS = {
    "inception3a": ("28×28×256", (64, 96, 128, 16, 32, 32), "159K", "128M"),
    "inception3b": ("28×28×480", (128, 128, 192, 32, 96, 64), "380K", "304M"),
    "inception4a": ("14×14×512", (192, 96, 208, 16, 48, 64), "364K", "73M"),
    "inception4b": ("14×14×512", (160, 112, 224, 24, 64, 64), "437K", "88M"),
    "inception4c": ("14×14×512", (128, 128, 256, 24, 64, 64), "463K", "100M"),
    "inception4d": ("14×14×528", (112, 144, 288, 32, 64, 64), "580K", "119M"),
    "inception4e": ("14×14×832", (256, 160, 320, 32, 128, 128), "840K", "170M"),
    "inception5a": ("7×7×832", (256, 160, 320, 32, 128, 128), "1072K", "54M"),
    "inception5b": ("7×7×1024", (384, 192, 384, 48, 128, 128), "1388K", "71M"),
}


def _inception_reads() -> dict[str, int]:
    """The channels each inception row reads: conv2's 192, then what the row before it joined."""
    reads, result = 192, {}
    for name, (_, widths, _, _) in INCEPTIONS.items():
        result[name] = reads
        reads = widths[0] + widths[2] + widths[4] + widths[5]
    return result


READS = _inception_reads()
POOL_AFTER = {"inception3b": "pool3", "inception4e": "pool4"}
#: The ops Table 1 prints that its own columns do not give (its params column follows nowhere).
OPS_NOT_FOLLOWING = ("conv1", "inception4a", "inception5a")
#: What the table prints beside some of them, checked by hand.
NOTES = {
    ("conv1", "macs"): "34M is the printed 2.7K times 112·112",
    ("conv2", "params"): "112K is 114,688/1,024: K read as 1,024",
    ("linear", "params"): "1000K is 1,024,000/1,024: K read as 1,024",
}


def _inception_weights(reads: int, widths: tuple[int, ...]) -> str:
    """The weights of one inception row as arithmetic of its columns: four branches, reductions first."""
    ones, reduce3, threes, reduce5, fives, proj = widths
    return f"{reads}·{ones} + {reads}·{reduce3} + {reduce3}·3·3·{threes} + {reads}·{reduce5} + {reduce5}·5·5·{fives} + {reads}·{proj}"


def _rows() -> list[tuple[str, str, int, str, str]]:
    """(layer, its weights as arithmetic, output positions per side, printed params, printed ops) for each counted row."""
    rows = [("conv1", "7·7·3·64", 112, "2.7K", "34M"), ("conv2", "64·64 + 64·3·3·192", 56, "112K", "360M")]
    for name, (size, widths, params, ops) in INCEPTIONS.items():
        rows.append((name, _inception_weights(READS[name], widths), int(size.split("×")[0]), params, ops))
    return [*rows, ("linear", "1024·1000", 1, "1000K", "1M")]


def _figures() -> tuple[PublishedFigure, ...]:
    figures = []
    for layer, weights, side, params, ops in _rows():
        # Table 1 counts weights: a row's biases are a part it leaves out; no params figure follows from its columns
        figures.append(PublishedFigure("params", params, TABLE_1, layer, leaves_out=("biases",), contradicts=weights,
                                       note=NOTES.get((layer, "params"), "")))  # fmt: skip
        positions = f"·{side}·{side}" if side > 1 else ""
        macs = (f"({weights})" if "+" in weights else weights) + positions
        contradicts = macs if layer in OPS_NOT_FOLLOWING else ""
        figures.append(PublishedFigure("macs", ops, TABLE_1, layer, contradicts=contradicts, note=NOTES.get((layer, "macs"), "")))
    # §1's budget is Table 1's ops column added up, its three figures that do not follow included
    figures.append(PublishedFigure("macs", "1.5 billion", BUDGET, carries=OPS_NOT_FOLLOWING))
    return tuple(figures)


def _conv(reads: int, width: int, kernel: int, stride: int = 1, batch_norm: bool = False) -> nn.Sequential:
    """A convolution with its bias and ReLU (or, as torchvision has it, with batch norm instead of the bias)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(reads, width, kernel, stride=stride, padding=kernel // 2, bias=not batch_norm)
    )
    if batch_norm:
        layers["bn"] = nn.BatchNorm2d(width, eps=0.001)
    layers["relu"] = nn.ReLU(inplace=True)
    return nn.Sequential(layers)


class Inception(nn.Module):
    """Four branches side by side, joined along the channels: 1×1; 1×1 then 3×3; 1×1 then 5×5; 3×3 max pool then 1×1."""

    def __init__(self, reads: int, widths: tuple[int, ...], fives: int = 5, batch_norm: bool = False):
        super().__init__()
        ones, reduce3, threes, reduce5, five_wide, proj = widths
        conv = partial(_conv, batch_norm=batch_norm)
        self.branch1 = conv(reads, ones, 1)
        self.branch2 = nn.Sequential(conv(reads, reduce3, 1), conv(reduce3, threes, 3))
        self.branch3 = nn.Sequential(conv(reads, reduce5, 1), conv(reduce5, five_wide, fives))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), conv(reads, proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


@register_model("googlenet-2014", input_size=(3, 224, 224), source=SOURCE, published=_figures())
def googlenet_2014(fives: int = 5, normalised: bool = True, batch_norm: bool = False) -> nn.Sequential:
    """GoogLeNet as Table 1 and Figure 3 have it, for inference: LRN, biases, 5×5 branches, no auxiliary classifiers.

    ``fives=3``, ``normalised=False`` and ``batch_norm=True`` build it as torchvision does in each respect, to measure each.
    """

    def norm(name: str) -> list[tuple[str, nn.Module]]:
        # Figure 3 gives no settings; these are the authors' Caffe model's (size 5, α = 10⁻⁴, β = 0.75)
        return [(name, nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75))] if normalised else []

    conv = partial(_conv, batch_norm=batch_norm)
    layers: list[tuple[str, nn.Module]] = [
        ("conv1", conv(3, 64, 7, stride=2)),
        ("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        *norm("norm1"),
        ("conv2", nn.Sequential(OrderedDict(reduce=conv(64, 64, 1), conv=conv(64, 192, 3)))),  # Table 1's row of depth 2
        *norm("norm2"),
        ("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
    ]
    for name, (_, widths, _, _) in INCEPTIONS.items():
        layers.append((name, Inception(READS[name], widths, fives, batch_norm)))
        if name in POOL_AFTER:
            layers.append((POOL_AFTER[name], nn.MaxPool2d(3, stride=2, ceil_mode=True)))
    layers += [
        ("avgpool", nn.AvgPool2d(7, stride=1)),
        ("dropout", nn.Dropout(0.4)),
        ("flatten", nn.Flatten()),
        ("linear", nn.Linear(1024, 1000)),
    ]
    return nn.Sequential(OrderedDict(layers))
