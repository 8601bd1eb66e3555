"""An epoch's batches, made on the training device: a seeded shuffle of the split held there, cut into whole batches.

No DataLoader and no host copies: the images stay one uint8 tensor on the device, and indexing, augmentation and
scaling are batched tensor ops there. Every batch has the same shape (the images that do not fill a last batch wait
for another epoch's shuffle), so a compiled step is compiled once and CUDA graphs can replay it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .data import Split
from .images import Pixels, prepare_batch


def epoch_order(size: int, usable: int, generator: torch.Generator, rank: int = 0, world: int = 1) -> torch.Tensor:
    """This process's share of the epoch: a permutation of ``size`` images drawn on the generator's device, its first
    ``usable`` (whole batches on every process) dealt out round-robin."""
    order = torch.randperm(size, generator=generator, device=generator.device)
    return order[:usable][rank::world]


def epoch_batches(
    split: Split, order: torch.Tensor, batch_size: int, pixels: Pixels, generator: torch.Generator | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, labels) of each batch of ``order``, in order; augmented from ``generator`` where one is given.

    The set-up makes ``order`` whole batches long; only a split smaller than one batch gives a smaller one.
    """
    for first in range(0, len(order), batch_size):
        index = order[first : first + batch_size]
        yield prepare_batch(split.images[index], pixels, generator), split.labels[index]
