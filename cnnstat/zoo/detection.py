"""torchvision's detectors, counted where the image size fixes the work.

A detector's forward takes a list of images and has data-dependent parts: anchors are matched,
proposals decoded, sorted and suppressed (NMS), and only the survivors reach the second stage.
None of that can be known from a shape. What can: the resizing transform, the backbone and its
feature pyramid, the first-stage heads on every pyramid level, and the second-stage heads on a
stated number of proposals (as many as the detector keeps after NMS at inference, 1,000 for most)
and detections (at most 100 per image). :class:`CountedDetector` runs exactly those parts, under the
detector's own module names, and says what it leaves out.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

NOT_COUNTED = (
    "not counted (they depend on the image's content, not its size): anchor generation, box decoding, "
    "top-k selection and non-maximum suppression, RoI Align's bilinear sampling, and post-processing"
)


class CountedDetector(nn.Module):
    """The parts of a torchvision detector that the image size determines, under the detector's module names."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        for name, child in detector.named_children():
            self.add_module(name, child)
        self.kind = type(detector).__name__
        rpn, heads = getattr(detector, "rpn", None), getattr(detector, "roi_heads", None)
        # what the detector keeps at inference: proposals after NMS, detections per image
        self.proposals = getattr(rpn, "_post_nms_top_n", {}).get("testing", 1000) if rpn is not None else 0
        self.detections = heads.detections_per_img if heads is not None else 0

    def describe(self) -> str:
        """What this count covers, for the report's notes."""
        if hasattr(self, "roi_heads"):
            second = f"second-stage heads on {self.proposals:,} proposals per image"
            if getattr(self.roi_heads, "mask_head", None) is not None or getattr(self.roi_heads, "keypoint_head", None) is not None:
                second += f" and mask/keypoint heads on {self.detections} detections per image"
            return f"{self.kind}: transform, backbone, region proposal head, {second}; {NOT_COUNTED}"
        return f"{self.kind}: transform, backbone and heads on every feature level; {NOT_COUNTED}"

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"a detector takes RGB images: give --input 3xHxW, not {tuple(images.shape[1:])}")
        image_list, _ = self.transform(list(images))
        features = self.backbone(image_list.tensors)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        levels = list(features.values())
        if not hasattr(self, "roi_heads"):  # one stage: RetinaNet, FCOS, SSD
            return {"head": self.head(levels)}
        objectness, deltas = self.rpn.head(levels)
        count = images.shape[0]
        channels = levels[0].shape[1]
        heads = self.roi_heads
        box_size = heads.box_roi_pool.output_size
        pooled = levels[0].new_zeros(count * self.proposals, channels, *_pair(box_size))  # what RoI Align hands on
        # the proposals' box deltas are an output too: the detector decodes them into boxes, and an unused result
        # would be dropped by fvcore's trace and get no gradient in training
        outputs: dict[str, Any] = {"objectness": objectness, "proposal_deltas": deltas,
                                   "boxes": heads.box_predictor(heads.box_head(pooled))}  # fmt: skip
        for branch in ("mask", "keypoint"):
            head = getattr(heads, f"{branch}_head", None)
            if head is not None:
                size = getattr(heads, f"{branch}_roi_pool").output_size
                crops = levels[0].new_zeros(count * self.detections, channels, *_pair(size))
                outputs[branch] = getattr(heads, f"{branch}_predictor")(head(crops))
        return outputs


def _pair(size: Any) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)  # type: ignore[return-value]
