"""The device's name, which keys its measured peaks (``profile/peaks.py`` measures them, for bench too)."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from ..devices import DeviceSetup


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
