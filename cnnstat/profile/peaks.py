"""The machine's peaks, measured: compute per dtype from large kernels, bandwidth as a curve over working-set sizes.

Compute: the best GFLOP/s of a few large matrix products and convolutions in each dtype the device runs
fast. Bandwidth: copy (``b = a``) and triad (``a = b + 2·c``) through torch at working sets from
L1-sized to several times the last-level cache, so a layer whose tensors fit in a cache is held to
that cache's bandwidth (the cache-aware roofline of Ilic et al., 2014). Each figure is the best of
several timed blocks: a peak is what the machine can do, not what it did on average. Cached per
machine, device, threads and torch version in the user's cache folder; ``bench``'s share of peak reads the same figures.

On the CPU, the compute runs also measure the share of their threads' CPU time they got: below ``BUSY_SHARE`` the
machine was busy with other work, the figures read low, and they are used for that run but not cached.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..atomic import write_atomically
from ..benchmark.peak import device_name
from ..cache import cache_folder
from ..counting.columns import counted
from ..devices import DeviceSetup, cpu_has_native_bf16, synchronize

CPU_WORKING_SETS = tuple(2**k for k in range(14, 29, 2))  # 16 KiB … 256 MiB
CUDA_WORKING_SETS = tuple(2**k for k in range(16, 31, 2))  # 64 KiB … 1 GiB
#: Below this share of their threads' CPU time, the CPU's compute runs shared their cores with other work: the peaks
#: are used for the run but not cached. A quiet 2-core machine gives 0.97–1.00 (the OS takes the rest); one busy
#: process beside two threads on two cores gave 0.33–0.51. A peak is the best of five blocks, so one measured at
#: 0.85 reads at most about 15% low; refusing a cache costs one more measurement next run, while a low peak cached
#: misreads every later roofline until --remeasure.
BUSY_SHARE = 0.85


@dataclass(frozen=True)
class ComputePeak:
    """The best rate of one dtype and the kernel that reached it."""

    dtype: str
    gflops: float
    kernel: str


@dataclass(frozen=True)
class BandwidthPoint:
    """The best rate of copy or triad at one working set (bytes read + written per pass)."""

    working_set: int
    gbytes_per_s: float
    kernel: str


@dataclass(frozen=True)
class CacheLevel:
    """A cache of the CPU as the OS describes it."""

    name: str
    size: int


@dataclass(frozen=True)
class CpuTime:
    """This process's CPU time (all its threads) beside the wall time, at one moment or over a span."""

    cpu_s: float
    wall_s: float

    @classmethod
    def now(cls) -> CpuTime:
        # process_time: this process only, every thread, on Linux, macOS and Windows alike; time another process or
        # the hypervisor took from it is not in it, which is what the share is to show
        return cls(time.process_time(), time.perf_counter())

    def __add__(self, other: CpuTime) -> CpuTime:
        return CpuTime(self.cpu_s + other.cpu_s, self.wall_s + other.wall_s)

    def __sub__(self, other: CpuTime) -> CpuTime:
        return CpuTime(self.cpu_s - other.cpu_s, self.wall_s - other.wall_s)


@dataclass(frozen=True)
class MachinePeaks:
    """What this device can do at best, and how that was measured."""

    device: str
    device_type: str
    threads: int
    torch_version: str
    compute: tuple[ComputePeak, ...]
    bandwidth: tuple[BandwidthPoint, ...]
    caches: tuple[CacheLevel, ...]  # the CPU's; none on a GPU, whose caches sysfs does not describe
    measured_at: str
    how: str
    cpu_share: float | None  # of the CPU time the compute runs' threads could use; None on a GPU (see busy)
    cached: bool = False  # whether these figures are (now) in the cache; a busy machine's are not
    earlier_cache_kept: bool = False  # busy, with --remeasure over a sound cache: that cache stays, for the next run

    def not_cached_line(self) -> str | None:
        """Why these peaks were not cached (a busy machine), in one line for stderr; None when they were."""
        if self.cached or not busy(self.cpu_share):
            return None
        then = ("the peaks cached earlier stay, and serve the next run (--remeasure on a quiet machine replaces them)"
                if self.earlier_cache_kept else "the next run measures again, best on a quiet machine")  # fmt: skip
        return (f"peaks measured on a busy machine: the compute runs got {100 * self.cpu_share:.0f}% of the CPU time "
                f"{counted(self.threads, 'thread')} could use, and cnnstat caches peaks measured with "
                f"{100 * BUSY_SHARE:.0f}% or more, so these figures may read low: used for this run, not cached; {then}")

    def compute_gflops(self, dtype: str) -> float:
        """The compute peak of ``dtype``; float32's where that dtype was not measured (a slower dtype runs no faster)."""
        by_dtype = {peak.dtype: peak.gflops for peak in self.compute}
        return by_dtype.get(dtype, by_dtype["float32"])

    def bandwidth_at(self, working_set: int) -> float:
        """GB/s at ``working_set`` bytes: the curve read log-linearly between points, flat beyond its ends."""
        sizes = [point.working_set for point in self.bandwidth]
        rates = [point.gbytes_per_s for point in self.bandwidth]
        if working_set <= sizes[0]:
            return rates[0]
        if working_set >= sizes[-1]:
            return rates[-1]
        upper = bisect.bisect_left(sizes, working_set)
        lower = upper - 1
        where = (math.log(working_set) - math.log(sizes[lower])) / (math.log(sizes[upper]) - math.log(sizes[lower]))
        return rates[lower] + where * (rates[upper] - rates[lower])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MachinePeaks:
        return cls(
            **{**data, "compute": tuple(ComputePeak(**c) for c in data["compute"]),
               "bandwidth": tuple(BandwidthPoint(**b) for b in data["bandwidth"]),
               "caches": tuple(CacheLevel(**c) for c in data["caches"])}
        )  # fmt: skip


def cache_path(setup: DeviceSetup, threads: int) -> Path:
    """One file per machine, device, thread count and torch version."""
    identity = "|".join((os.uname().nodename, device_name(setup), setup.device.type, str(threads), torch.__version__))
    return cache_folder() / f"peaks-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.json"


def _cached_peaks(path: Path) -> MachinePeaks | None:
    """The peaks cached in ``path``; None where there are none, or where the file is damaged or older (one without a
    CPU share): those are measured again."""
    if not path.is_file():
        return None
    try:
        return MachinePeaks.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def machine_peaks(setup: DeviceSetup, threads: int, remeasure: bool = False,
                  progress: Callable[[str], None] = lambda _: None) -> MachinePeaks:  # fmt: skip
    """The peaks of this device at ``threads``: from the cache, or measured when absent or ``remeasure``.

    Measured peaks are cached unless the machine was busy (``busy``): then they serve this run, and a cached file
    (``--remeasure`` on a busy machine) is left as it was.
    """
    path = cache_path(setup, threads)
    earlier = _cached_peaks(path)
    if earlier is not None and not remeasure:
        return earlier
    peaks = measure_peaks(setup, threads, progress)
    if busy(peaks.cpu_share):
        return replace(peaks, earlier_cache_kept=earlier is not None)
    peaks = replace(peaks, cached=True)
    write_atomically(path, json.dumps(peaks.to_dict(), indent=1))
    return peaks


def cpu_share(used: CpuTime, threads: int, cores: int) -> float:
    """CPU time over wall time × the threads that could run at once (``threads``, at most the ``cores``)."""
    return used.cpu_s / (used.wall_s * min(threads, cores))


def busy(share: float | None) -> bool:
    """Whether runs that got ``share`` of their threads' CPU time shared the cores with other work.

    Never on a GPU (``None``): its kernels run on the device, timed there by CUDA events (on MPS, around a wait
    for the device), and the host thread spends the time waiting, spinning or asleep as the driver chooses, so its
    CPU share says nothing of the device.
    """
    return share is not None and share < BUSY_SHARE


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask where the OS has one (a ``taskset`` or a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fast_dtypes(setup: DeviceSetup) -> tuple[torch.dtype, ...]:
    """float32, and the half precisions this device runs natively."""
    if setup.device.type == "cuda":
        return (torch.float32, torch.bfloat16, torch.float16)
    return (torch.float32, torch.bfloat16) if cpu_has_native_bf16() else (torch.float32,)


def measure_peaks(setup: DeviceSetup, threads: int, progress: Callable[[str], None] = lambda _: None) -> MachinePeaks:
    """Measure compute per dtype and the bandwidth curve with torch, at ``threads`` CPU threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        compute, used = [], CpuTime(0.0, 0.0)
        for dtype in fast_dtypes(setup):
            progress(f"measuring the compute peak ({str(dtype).removeprefix('torch.')})…")
            peak, spent = compute_peak(setup.device, dtype)
            compute.append(peak)
            used += spent
        progress("measuring bandwidth over working-set sizes…")
        sets = CUDA_WORKING_SETS if setup.device.type == "cuda" else CPU_WORKING_SETS
        bandwidth = tuple(bandwidth_point(setup.device, size) for size in sets)
    finally:
        torch.set_num_threads(previous)
    how = (
        "compute: best of 5 timed runs of each of square matmuls and 3×3 convolutions per dtype; "
        "bandwidth: best of 5 timed blocks of copy (b = a) and triad (a = b + 2·c) at each working set "
        "(bytes read + written per pass), through torch"
        + (", CUDA events" if setup.device.type == "cuda" else f", {counted(threads, 'thread')}, time.perf_counter")
    )
    on_cpu = setup.device.type == "cpu"
    # the share over the compute runs alone: every thread works in a large matmul or convolution, while torch runs a
    # small copy on one thread, so the bandwidth blocks would read as a busy machine on a quiet one
    share = cpu_share(used, threads, usable_cores()) if on_cpu else None
    return MachinePeaks(device_name(setup), setup.device.type, threads, torch.__version__, tuple(compute), bandwidth,
                        cache_levels() if on_cpu else (), time.strftime("%Y-%m-%d %H:%M:%S"), how, share)  # fmt: skip


def best_seconds(run: Callable[[], None], device: torch.device, blocks: int = 5, calls: int = 1) -> float:
    """The fastest of ``blocks`` timed blocks of ``calls`` runs, per run, after a warm-up; CUDA timed with events."""
    run()
    if device.type == "cuda":
        best = math.inf
        for _ in range(blocks):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                run()
            end.record()
            torch.cuda.synchronize(device)
            best = min(best, start.elapsed_time(end) / 1000 / calls)
        return best
    best = math.inf
    for _ in range(blocks):
        synchronize(device)  # a no-op on the CPU; on MPS the block starts and ends with the device idle
        began = time.perf_counter()
        for _ in range(calls):
            run()
        synchronize(device)
        best = min(best, (time.perf_counter() - began) / calls)
    return best


def compute_peak(device: torch.device, dtype: torch.dtype) -> tuple[ComputePeak, CpuTime]:
    """The best GFLOP/s of large matmuls and convolutions in ``dtype``, and the CPU and wall time of their timing."""
    sizes = (2048, 4096, 8192) if device.type == "cuda" else (512, 1024, 1536)
    kernels: list[tuple[int, str, Callable[[], object]]] = []  # FLOPs, name, run
    for size in sizes:
        a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
        kernels.append((2 * size**3, f"matmul {size}×{size}·{size}×{size}", lambda a=a, b=b: torch.mm(a, b)))
    batch, channels, side = (32, 256, 56) if device.type == "cuda" else (4, 128, 28)
    x = torch.randn(batch, channels, side, side, device=device, dtype=dtype)
    weight = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype)
    kernels.append((2 * batch * channels * channels * 9 * side * side,
                    f"conv 3×3 {channels}→{channels} on {batch}×{channels}×{side}×{side}",
                    lambda: torch.nn.functional.conv2d(x, weight, padding=1)))  # fmt: skip
    with torch.no_grad():
        for _, _, run in kernels:  # one-time work runs on one thread (randn, oneDNN's JIT): kept out of the share's span
            run()
        began = CpuTime.now()
        gflops, kernel = max((flops / best_seconds(run, device) / 1e9, name) for flops, name, run in kernels)
        used = CpuTime.now() - began
    return ComputePeak(str(dtype).removeprefix("torch."), gflops, kernel), used


def bandwidth_point(device: torch.device, working_set: int) -> BandwidthPoint:
    """The better of copy and triad at ``working_set`` bytes read and written per pass, in float32."""
    calls = max(1, (64 << 20) // working_set)  # about 64 MiB moved per block: small sets loop to outlast the clock
    halves = [torch.ones(working_set // 8, device=device) for _ in range(2)]
    copy = best_seconds(lambda: halves[1].copy_(halves[0]), device, calls=calls)
    thirds = [torch.ones(working_set // 12, device=device) for _ in range(3)]
    triad = best_seconds(lambda: torch.add(thirds[1], thirds[2], alpha=2.0, out=thirds[0]), device, calls=calls)
    moved_copy, moved_triad = 2 * halves[0].nbytes, 3 * thirds[0].nbytes
    copy_rate, triad_rate = moved_copy / copy / 1e9, moved_triad / triad / 1e9
    return BandwidthPoint(working_set, *max((copy_rate, "copy"), (triad_rate, "triad")))


def cache_levels() -> tuple[CacheLevel, ...]:
    """The data and unified caches of CPU 0 from sysfs (L1d, L2, L3); none where the OS does not say."""
    levels = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind == "Instruction":
            continue
        multiplier = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1], 1)
        levels.append(CacheLevel(f"L{level}" + ("d" if kind == "Data" else ""), int(size.rstrip("KMG")) * multiplier))
    return tuple(levels)
