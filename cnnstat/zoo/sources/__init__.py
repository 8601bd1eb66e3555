"""Model sources: each kind of model name is one registered source that claims, builds and lists its names.

Importing a source's module registers it; the order below is the order in which they claim a name.
A new kind of name (timm, a Hugging Face config, ``.pt2``, ``.onnx``) is one new module here.
"""

from . import zoo, user_code, torchvision  # noqa: F401,I001  (claiming order: zoo, file, import path, torchvision)
from .base import ModelSource, ResolvedModel, get_source, register_source, source_for, sources, suggest

__all__ = ["ModelSource", "ResolvedModel", "get_source", "register_source", "source_for", "sources", "suggest"]
