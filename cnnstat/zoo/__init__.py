"""The model zoo: registered classics, the model sources (zoo, torchvision, users' files and packages)."""

from . import lenet, fashion, classic  # noqa: F401,I001  (importing registers the models, in listing order)
from . import papers  # noqa: F401,I001  (the classics as their papers built them, after torchvision's)
from .published import PublishedFigure
from .registry import ModelEntry, get_entry, list_models, register_model
from .resolve import ResolvedModel, output_features, resolve_model
from .sources import ModelSource, register_source, sources
from .torchvision_models import TorchvisionFigures, torchvision_families, torchvision_figures, torchvision_model_names

__all__ = [
    "ModelEntry",
    "ModelSource",
    "PublishedFigure",
    "ResolvedModel",
    "TorchvisionFigures",
    "get_entry",
    "list_models",
    "output_features",
    "register_model",
    "register_source",
    "resolve_model",
    "sources",
    "torchvision_families",
    "torchvision_figures",
    "torchvision_model_names",
]
