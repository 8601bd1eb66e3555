"""torchvision's models by family, the figures it publishes with their weights, and their default inputs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from ..counting.inputs import InputSpec
from .published import PublishedFigure

FAMILIES = ("classification", "segmentation", "detection", "video", "optical_flow", "quantization")
TORCHVISION_WEIGHTS = "torchvision's weights metadata"


@cache
def torchvision_families() -> dict[str, str]:
    """Every model torchvision can build, by name, with its family."""
    import torchvision.models

    families = {}
    for family in FAMILIES:
        module = torchvision.models if family == "classification" else getattr(torchvision.models, family)
        for name in torchvision.models.list_models(module=module):
            families.setdefault(name, family)
    return families


def torchvision_model_names() -> list[str]:
    return list(torchvision_families())


def _first_weights(name: str) -> Any | None:
    import torchvision.models

    try:
        weights = list(torchvision.models.get_model_weights(name))
    except (ValueError, KeyError):
        return None
    return weights[0] if weights else None


@dataclass(frozen=True)
class TorchvisionFigures:
    """What torchvision publishes for a model's first weights, as it prints them, and the input they hold for."""

    num_params: PublishedFigure
    gflops: PublishedFigure | None  # torchvision's `_ops`: GFLOPS, which are its MACs, to 3 decimals
    inputs: tuple[InputSpec, ...]  # what the figures hold for; empty where torchvision does not say


def torchvision_figures(name: str) -> TorchvisionFigures | None:
    """torchvision's published figures for ``name``, or None where it publishes no weights."""
    weights = _first_weights(name)
    if weights is None:
        return None
    meta = weights.meta
    params = PublishedFigure("params", f"{meta['num_params']:,}", f"{TORCHVISION_WEIGHTS}: num_params")
    ops = meta.get("_ops")
    gflops = PublishedFigure("macs", f"{ops:.3f}", f"{TORCHVISION_WEIGHTS}: _ops (GFLOPS)", unit=10**9) if ops else None
    known = _weights_inputs(name, weights) or ()
    family = torchvision_families().get(name)
    # torchvision does not say on what frames RAFT's _ops were measured, nor on what photos (of what size,
    # with how many proposals) the detectors' were; SSD resizes every image to one fixed size
    if family == "optical_flow" or (family == "detection" and not name.startswith("ssd")):
        known = ()
    return TorchvisionFigures(params, gflops, known)


def torchvision_published(name: str) -> list[str]:
    """torchvision's published figures for a model, as ``cnnstat models`` shows them."""
    figures = torchvision_figures(name)
    if figures is None:
        return []
    described = [f"params {figures.num_params.printed}"]
    if figures.gflops is not None:
        described.append(f"GFLOPS {figures.gflops.printed} (torchvision: its MACs)")
    return described


def _weights_inputs(name: str, weights: Any) -> tuple[InputSpec, ...] | None:
    """The input the weights' transforms produce, where they fix one."""
    keywords = getattr(weights.transforms, "keywords", {})
    family = torchvision_families().get(name)
    if family == "video":  # torchvision's _ops are for clips of 16 frames, whatever clip length it evaluated on
        crop = keywords.get("crop_size", (112, 112))
        return (InputSpec((3, 16, *crop), "float32"),)
    if family == "detection":  # a COCO-sized photo; the detector's own transform resizes it
        return (InputSpec((3, 480, 640), "float32"),)
    if family == "optical_flow":  # two frames; torchvision's own example pairs are 520×960
        return (InputSpec((3, 520, 960), "float32"), InputSpec((3, 520, 960), "float32"))
    if family == "segmentation":
        size = keywords.get("resize_size", 520)
        return (InputSpec((3, size, size), "float32"),)
    if "crop_size" in keywords:
        crop = keywords["crop_size"]
        return (InputSpec((3, crop, crop), "float32"),)
    return None


def torchvision_default_inputs(name: str, module: Any) -> tuple[InputSpec, ...] | None:
    """A torchvision model's default inputs: what its weights were made for, else what the model fixes itself."""
    image_size = getattr(module, "image_size", None)  # ViTs built without weights fix their own size
    if isinstance(image_size, int):
        return (InputSpec((3, image_size, image_size), "float32"),)
    weights = _first_weights(name)
    found = _weights_inputs(name, weights) if weights is not None else None
    if found is None and torchvision_families().get(name) in ("classification", "quantization"):
        return (InputSpec((3, 224, 224), "float32"),)  # ImageNet's crop
    return found


def build_torchvision_model(name: str) -> Any:
    """torchvision's model without weights, and without the backbone weights a builder would otherwise download."""
    import inspect

    import torchvision.models

    builder = torchvision.models.get_model_builder(name)
    parameters = inspect.signature(builder).parameters
    options: dict[str, Any] = {"weights": None}
    if "weights_backbone" in parameters:
        options["weights_backbone"] = None
    if "aux_loss" in parameters and _first_weights(name) is not None:
        options["aux_loss"] = True  # as torchvision builds it for its weights, whose figures it publishes
    options.update(_AS_PUBLISHED.get(name, {}))
    return builder(**options)


# torchvision drops GoogLeNet's auxiliary heads once its weights are loaded; what it publishes has none
_AS_PUBLISHED: dict[str, dict[str, Any]] = {"googlenet": {"aux_logits": False}, "quantized_googlenet": {"aux_logits": False}}
