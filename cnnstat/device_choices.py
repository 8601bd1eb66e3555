"""The devices ``train`` and ``bench`` can be asked for, without torch: the command line builds its choices from them."""

from __future__ import annotations

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_DEVICE = "auto"  # CUDA, then MPS, then the CPU
