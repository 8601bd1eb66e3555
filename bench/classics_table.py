"""The classics as their papers built them beside torchvision's builds: each difference and what it costs.

Every figure is a total of ``cnnstat.analyze``. A difference's effect (Δ) is the paper's build minus
the same build with torchvision's choice in that one respect; the last row of each model sets the
paper's whole build beside torchvision's. Prints Markdown, as docs/classics.md shows it.

Run: .venv/bin/python bench/classics_table.py
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

import cnnstat
from cnnstat.zoo import get_entry
from cnnstat.zoo.meta import parameters_on_meta
from cnnstat.zoo.papers.alexnet import alexnet_2012
from cnnstat.zoo.papers.googlenet import googlenet_2014

Totals = dict[str, int]


def totals(model: str | Callable[[], nn.Module], input_size: tuple[int, ...]) -> Totals:
    """cnnstat's totals for a zoo name, or for a builder run with its parameters on meta."""
    if isinstance(model, str):
        return cnnstat.analyze(model, input_size).totals
    with parameters_on_meta():
        module = model()
    return cnnstat.analyze(module.eval(), input_size).totals


def googlenet_with_auxiliary_heads() -> nn.Module:
    """torchvision's GoogLeNet as its weights come: with the two auxiliary classifiers (training only)."""
    from torchvision.models import googlenet

    return googlenet(weights=None, aux_logits=True, init_weights=True)


# (paper's build, torchvision's, [(difference: the paper's choice (torchvision's), a build with torchvision's choice,
#                                    and, where it is not the paper's build, the same build with the paper's choice)])
CLASSICS = [
    ("alexnet-2012", "alexnet", [
        ("conv2, conv4, conv5 grouped, each reading its own GPU's half (torchvision: dense)", lambda: alexnet_2012(grouped=False)),
        ("LRN after conv1 and conv2 (torchvision: none)", lambda: alexnet_2012(normalised=False)),
    ]),
    ("vgg16-2014", "vgg16", []),
    ("googlenet-2014", "googlenet", [
        ("5×5 convolutions in the third branch (torchvision: 3×3)", lambda: googlenet_2014(fives=3)),
        ("biases, no batch norm (torchvision: batch norm, no biases)", lambda: googlenet_2014(batch_norm=True)),
        ("LRN after pool1 and conv2 (torchvision: none)", lambda: googlenet_2014(normalised=False)),
        ("no auxiliary classifiers at inference (torchvision, as its weights load: two, run only in training)",
         googlenet_with_auxiliary_heads, "googlenet"),
    ]),
    ("resnet50-2015", "resnet50", []),
]  # fmt: skip
WHOLE_BUILD = {
    "alexnet-2012": "227×227 input, 96-256-384-384-256 maps, conv1 unpadded, grouped, LRN "
    "(torchvision: 224×224, Krizhevsky 2014's one tower of 64-192-384-256-256 maps, conv1 padded by 2)",
    "vgg16-2014": "configuration D (torchvision: the same, and an adaptive 7×7 average pool, the identity at 224×224)",
    "googlenet-2014": "5×5, biases, LRN (torchvision: 3×3, batch norm, no LRN; built without its auxiliary classifiers)",
    "resnet50-2015": "stride 2 on the first 1×1 convolution of each downsampling block (torchvision's v1.5: on the 3×3)",
}
MEASURES = ("params", "macs", "elementwise")


def effects(ours: Totals, theirs: Totals) -> str:
    """The paper's figures minus the other build's, as table cells."""
    return " | ".join(f"{ours[m] - theirs[m]:+,}" if ours[m] != theirs[m] else "0" for m in MEASURES)


def main() -> None:
    print("| model | difference: the paper's choice (torchvision's) | Δ params | Δ MACs | Δ elementwise |")
    print("|---|---|---:|---:|---:|")
    builds = []
    for paper, torchvision, differences in CLASSICS:
        size, their_size = get_entry(paper).input_size, get_entry(torchvision).input_size
        ours, theirs = totals(paper, size), totals(torchvision, their_size)
        builds += [(paper, size, ours), (torchvision, their_size, theirs)]
        for difference, variant, *base in differences:
            with_papers_choice = totals(base[0], size) if base else ours
            print(f"| {paper} | {difference} | {effects(with_papers_choice, totals(variant, size))} |")
        print(f"| **{paper}** | **whole build**: {WHOLE_BUILD[paper]} | {effects(ours, theirs)} |")
    print()
    print("| build | input | params | MACs | elementwise |")
    print("|---|---|---:|---:|---:|")
    for name, size, counted in builds:
        print(f"| {name} | {'×'.join(map(str, size))} | {' | '.join(f'{counted[m]:,}' for m in MEASURES)} |")


if __name__ == "__main__":
    main()
