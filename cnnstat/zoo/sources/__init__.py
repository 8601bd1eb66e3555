"""Model sources: each kind of model name is one registered source that claims, builds and lists its names.

Importing a source's module registers it; the order below is the order in which they claim a name.
A new kind of name (timm, a Hugging Face config, ``.pt2``, ``.onnx``) is one new module here.
"""

# claiming order: zoo, then the prefixed and suffixed names (timm:, hf:, .pt2, .onnx) before file and import
# path, which would take any name with a colon, then torchvision; a source's declared prefixes (timm:, hf:) are
# looked up before any source claims, so one registered later (a plugin's) still gets its names
from . import zoo, timm, huggingface, exported, onnx_file, user_code, torchvision  # noqa: F401,I001
from .base import ModelSource, ResolvedModel, get_source, register_source, source_for, sources, suggest

__all__ = ["ModelSource", "ResolvedModel", "get_source", "register_source", "source_for", "sources", "suggest"]
