"""The device's peak: a short matrix-multiply probe, cached per device, dtype and thread count."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from ..atomic import write_atomically
from ..devices import DeviceSetup


def peak_cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnnstat" / "peak.json"


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


def measure_peak_gflops(setup: DeviceSetup, dtype: torch.dtype, threads: int) -> float:
    """Best GFLOP/s of square matmuls in ``dtype`` on the device; cached in ~/.cache/cnnstat/peak.json."""
    from torch.utils import benchmark

    key = f"{device_name(setup)}|{setup.device.type}|{str(dtype)}|{threads}"
    cache = peak_cache_path()
    cached: dict[str, float] = {}
    if cache.is_file():
        try:
            loaded = json.loads(cache.read_text())
            cached = {k: float(v) for k, v in loaded.items() if isinstance(v, (int, float))} if isinstance(loaded, dict) else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            cached = {}  # a damaged cache is measured again and rewritten
    if key in cached:
        return cached[key]
    size = 4096 if setup.device.type == "cuda" else 1024
    a = torch.randn(size, size, device=setup.device, dtype=dtype)
    b = torch.randn(size, size, device=setup.device, dtype=dtype)
    timer = benchmark.Timer("torch.mm(a, b)", globals={"a": a, "b": b, "torch": torch}, num_threads=threads)
    seconds = timer.blocked_autorange(min_run_time=0.5).median
    gflops = 2 * size**3 / seconds / 1e9
    cached[key] = gflops
    write_atomically(cache, json.dumps(cached, indent=1))
    return gflops
