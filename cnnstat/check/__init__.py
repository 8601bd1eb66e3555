"""``cnnstat check``: cnnstat's counts beside fvcore, torch, torchvision and the papers; architecture snapshots."""

from .comparison import AGREES, EXPLAINED, MISMATCH, NOT_COUNTED, TOTAL, Comparison, ModelCheck
from .run import REFERENCES, check_model

__all__ = ["AGREES", "EXPLAINED", "MISMATCH", "NOT_COUNTED", "REFERENCES", "TOTAL", "Comparison", "ModelCheck", "check_model"]
