"""How stored images become a model's input: scaling, padding or resizing, training augmentation, test-time views."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .datasets import DatasetInfo
from .recipes import Recipe


@dataclass(frozen=True)
class Pixels:
    """How uint8 images become the model's input: size, channels, the affine map of [0, 1] pixels, mirror flips."""

    input_size: tuple[int, ...]
    scale: float = 1.0
    shift: float = 0.0
    mirror: bool = True  # flips are allowed: the data set's classes are mirror-symmetric

    @staticmethod
    def for_run(input_size: tuple[int, ...], hyper: Recipe, info: DatasetInfo) -> Pixels:
        if hyper.pixels == "standard":
            return Pixels(input_size, 1 / info.std, -info.mean / info.std, info.mirror_symmetric)
        if hyper.pixels == "lecun1998":  # §II.A: background (white) -0.1, foreground (black) 1.175
            return Pixels(input_size, 1.275, -0.1, info.mirror_symmetric)
        return Pixels(input_size, 1.0, 0.0, info.mirror_symmetric)


def prepare_batch(images: torch.Tensor, pixels: Pixels, generator: torch.Generator | None) -> torch.Tensor:
    """uint8 (N, 28, 28) -> the model's float input: augment, pad to 32 or resize, scale, repeat channels; on their device."""
    x = images.unsqueeze(1).float().div_(255)
    if generator is not None:  # on [0, 1] pixels: on a CPU, gathering uint8 images was no faster and their float copy no cheaper
        x = augment(x, draw_augmentation(len(x), generator, pixels.mirror, x.device))
    channels, height, width = pixels.input_size
    if (height, width) == (32, 32):
        x = F.pad(x, (2, 2, 2, 2))  # the 1998 paper's 32×32 field, background around the digit
    elif (height, width) != (28, 28):
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    if (pixels.scale, pixels.shift) != (1.0, 0.0):
        x = x * pixels.scale + pixels.shift
    return x.expand(-1, channels, -1, -1) if channels != 1 else x


SHIFT = 2  # pixels an augmented image may move each way: a crop of the image padded by this much


@dataclass(frozen=True)
class Augmentation:
    """Per image: where its crop of the padded image begins (0 … 2·SHIFT, rows and columns) and whether it is mirrored."""

    top: torch.Tensor  # (N,) int64
    left: torch.Tensor  # (N,) int64
    mirrored: torch.Tensor | None  # (N,) bool; None where the data set is never mirrored


def draw_augmentation(count: int, generator: torch.Generator, mirror: bool, device: torch.device) -> Augmentation:
    """Random crops and, where ``mirror``, flips with probability ½, drawn from ``generator`` and moved to ``device``."""
    offsets = torch.randint(0, 2 * SHIFT + 1, (2, count), generator=generator, device=generator.device).to(device)
    # the flips are drawn even where unused, so a data set's mirror symmetry never changes the draws that follow
    flips = torch.rand(count, generator=generator, device=generator.device).to(device) < 0.5
    return Augmentation(offsets[0], offsets[1], flips if mirror else None)


def augment(images: torch.Tensor, drawn: Augmentation) -> torch.Tensor:
    """Images (N, 1, H, W) cropped and mirrored as ``drawn`` says, all at once: one gather from the zero-padded batch."""
    count, _, height, width = images.shape
    padded = F.pad(images, (SHIFT, SHIFT, SHIFT, SHIFT))
    rows = (drawn.top[:, None] + torch.arange(height, device=images.device))[:, :, None]
    cols = (drawn.left[:, None] + torch.arange(width, device=images.device))[:, None, :]
    shifted = padded[torch.arange(count, device=images.device)[:, None, None], 0, rows, cols].unsqueeze(1)
    if drawn.mirrored is None:
        return shifted
    return torch.where(drawn.mirrored[:, None, None, None], shifted.flip(-1), shifted)


@dataclass(frozen=True)
class View:
    """One way to show a test image: as it is, mirrored left to right, moved by whole pixels, or both."""

    mirrored: bool = False
    right: int = 0  # pixels; negative moves left
    down: int = 0  # pixels; negative moves up

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """The view of uint8 images (N, H, W): mirrored first, then moved, the background (0) filling what is uncovered."""
        if self.mirrored:
            images = images.flip(-1)
        if not (self.right or self.down):
            return images
        height, width = images.shape[-2:]
        margin = max(abs(self.right), abs(self.down))
        padded = F.pad(images, (margin, margin, margin, margin))
        top, left = margin - self.down, margin - self.right
        return padded[..., top : top + height, left : left + width]
