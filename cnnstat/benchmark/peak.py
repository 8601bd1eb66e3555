"""The device's name and the folder its measured peaks are cached in (``profile/peaks.py`` measures them for bench too)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from ..devices import DeviceSetup


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/cnnstat``, else ``~/.cache/cnnstat``."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnnstat"


def device_name(setup: DeviceSetup) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo where there is one."""
    if setup.device.type == "cuda":
        return torch.cuda.get_device_name(setup.device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
