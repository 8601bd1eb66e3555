"""The model zoo: registered classics, every torchvision family and users' own modules."""

from . import lenet, fashion, classic  # noqa: F401,I001  (importing registers the models, in listing order)
from . import papers  # noqa: F401,I001  (the classics as their papers built them, after torchvision's)
from .published import PublishedFigure
from .registry import ModelEntry, get_entry, list_models, register_model
from .resolve import ResolvedModel, output_features, resolve_model
from .torchvision_models import TorchvisionFigures, torchvision_families, torchvision_figures, torchvision_model_names

__all__ = [
    "ModelEntry",
    "PublishedFigure",
    "ResolvedModel",
    "TorchvisionFigures",
    "get_entry",
    "list_models",
    "output_features",
    "register_model",
    "resolve_model",
    "torchvision_families",
    "torchvision_figures",
    "torchvision_model_names",
]
