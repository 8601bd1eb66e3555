"""Hugging Face vision models from their config alone (``hf:path/to/folder``, ``hf:config.json``, ``hf:org/name``).

Built by ``AutoModelForImageClassification.from_config``: no weights are read or downloaded. A local
folder or file is read as it is; ``org/name`` asks the hub for the config only, where it is reachable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...counting.inputs import InputSpec
from ...errors import CnnstatError, ModelLoadError
from .base import ModelSource, ResolvedModel, register_source
from .extras import optional_import

PREFIX = "hf:"
PREPROCESSOR = "preprocessor_config.json"


def _side(size: Any) -> tuple[int, int] | None:
    """Height and width of an image processor's ``size`` or ``crop_size`` (a number or a dict of them)."""
    if isinstance(size, int):
        return size, size
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            return int(size["height"]), int(size["width"])
        if "shortest_edge" in size:
            return int(size["shortest_edge"]), int(size["shortest_edge"])
    return None


def processor_side(folder: Path) -> tuple[int, int] | None:
    """The image size the folder's image processor hands the model (its crop where it crops), or None."""
    path = folder / PREPROCESSOR
    if not path.is_file():
        return None
    try:
        processor = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read {path}: {error}") from None
    if processor.get("do_center_crop") and "crop_size" in processor:
        return _side(processor["crop_size"])
    return _side(processor.get("size"))


def default_input(config: Any, folder: Path | None) -> tuple[InputSpec, ...] | None:
    """``pixel_values`` of the processor's size where a folder has one, else of the config's ``image_size``."""
    side = processor_side(folder) if folder is not None else None
    if side is None:
        size = getattr(config, "image_size", None)
        side = _side(size) if not isinstance(size, (list, tuple)) else (int(size[0]), int(size[1]))
    if side is None:
        return None
    return (InputSpec((int(getattr(config, "num_channels", 3)), *side)),)


def load_config(location: str) -> tuple[Any, Path | None]:
    """The config at a local folder or ``config.json``, or on the hub; and the local folder it came from."""
    transformers = optional_import("transformers", "hf")
    path = Path(location)
    if not path.exists() and (location.endswith(".json") or location.startswith(("/", ".", "~")) or location.count("/") != 1):
        raise ModelLoadError(f"no such file or folder: {location}")  # not a hub name (org/name): never ask the hub
    folder = path if path.is_dir() else path.parent if path.is_file() else None
    try:
        if path.is_file():
            return _from_file(transformers, path), folder
        config = transformers.AutoConfig.from_pretrained(location)
        return config, folder if folder is not None else _hub_processor_folder(location)
    except CnnstatError:  # already cnnstat's own one line (a config.json naming no model_type)
        raise
    except Exception as error:  # a missing folder, an unreachable hub, a config of an unknown model type
        first = str(error).splitlines()[0] if str(error) else ""
        raise ModelLoadError(f"cannot read a Hugging Face config from {location}: {type(error).__name__}: {first}") from None


def _hub_processor_folder(name: str) -> Path | None:
    """The local folder the hub's image-processor config of ``name`` is cached in, or None where it has none."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(name, PREPROCESSOR)).parent
    except Exception:  # no image processor, or the hub went away after the config: the config's size is the input
        return None


def _from_file(transformers: Any, path: Path) -> Any:
    """A config from one ``config.json``, by the ``model_type`` it names."""
    values = json.loads(path.read_text())
    model_type = values.pop("model_type", None)
    if model_type is None:
        raise ModelLoadError(f"{path} names no model_type")
    return transformers.AutoConfig.for_model(model_type, **values)


class HuggingFaceSource(ModelSource):
    """A vision model ``transformers`` builds for image classification from its config, without weights."""

    name = "hf"
    prefixes = (PREFIX,)
    listed_by_default = False  # a config is found by its path, not listed

    def resolve(self, name: str) -> ResolvedModel:
        transformers = optional_import("transformers", "hf")
        config, folder = load_config(name[len(PREFIX) :])
        try:
            model = transformers.AutoModelForImageClassification.from_config(config)
        except Exception as error:  # a config transformers has no image-classification model for
            raise ModelLoadError(
                f"transformers cannot build an image classifier from {name}: {type(error).__name__}: {error}"
            ) from None
        return ResolvedModel(name, model, default_input(config, folder), source=self.name)


register_source(HuggingFaceSource())
