"""The model zoo: registered classics, torchvision's classifiers and users' own modules."""

from . import lenet, fashion, classic  # noqa: F401,I001  (importing registers the models, in listing order)
from .registry import ModelEntry, PaperLayer, get_entry, list_models, register_model
from .resolve import ResolvedModel, output_features, resolve_model, torchvision_classification_models, torchvision_figures

__all__ = [
    "ModelEntry",
    "PaperLayer",
    "ResolvedModel",
    "get_entry",
    "list_models",
    "output_features",
    "register_model",
    "resolve_model",
    "torchvision_classification_models",
    "torchvision_figures",
]
