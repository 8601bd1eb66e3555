"""Peak memory of one measurement: the GPU allocator's peak, or the CPU process's resident set above where it began."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch


def _resident_bytes() -> int | None:
    """This process's resident memory now (Linux), else None."""
    try:
        import os

        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _high_water_bytes() -> int | None:
    """The process's peak resident memory since the last reset (VmHWM, Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_high_water() -> bool:
    """Reset VmHWM to the current resident size (Linux 4.0+); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class PeakMemory:
    """The peak measured by :func:`track_peak`: bytes above the start, or None where nothing could measure it."""

    bytes: int | None = None


@contextmanager
def track_peak(device: torch.device) -> Iterator[PeakMemory]:
    """Measure the peak memory of the block: this model's, not the process's lifetime peak.

    CUDA: ``max_memory_allocated`` after a reset. CPU on Linux: the kernel's high-water mark, reset
    before the block, less the resident memory at its start; where the reset is not allowed, a
    thread samples the resident memory every millisecond instead.
    """
    peak = PeakMemory()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        yield peak
        peak.bytes = torch.cuda.max_memory_allocated(device)
        return
    start = _resident_bytes()
    if start is None:
        yield peak
        return
    if _reset_high_water() and _high_water_bytes() is not None:
        yield peak
        peak.bytes = max(0, (_high_water_bytes() or start) - start)
        return
    highest = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            highest[0] = max(highest[0], _resident_bytes() or 0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
    peak.bytes = max(0, highest[0] - start)
