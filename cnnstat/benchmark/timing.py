"""``cnnstat bench``: inference and training speed, tied to the counted FLOPs and the device's peak.

Timing uses torch.utils.benchmark's ``blocked_autorange`` with the thread count set explicitly
(its default is one thread), after warm-up; the device is waited for at the end of each timed block.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..device_choices import DEFAULT_DEVICE
from ..devices import DeviceSetup, cpu_has_native_bf16, select_device, synchronize
from ..errors import CnnstatError
from ..zoo import output_features, resolve_model
from .memory import track_peak
from .noise import machine_load, spread_of
from .peak import device_name

MODES = ("infer", "train")
#: The fewest timed runs a figure rests on: blocked_autorange takes one run of a step slower than --min-time.
MIN_RUNS = 5


def max_threads() -> int:
    """The most CPU threads a bench may ask for: 4 × the cores, at most 1024.

    More is never faster, and torch.set_num_threads crashes the process on very large counts (100000).
    """
    return min(1024, 4 * (os.cpu_count() or 1))


@dataclass(frozen=True)
class BenchOptions:
    """What to run and how."""

    device: str = DEFAULT_DEVICE
    mode: str = "infer"
    batch_sizes: tuple[int, ...] = (1, 32, 256)
    input_size: tuple[int, ...] | None = None
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None
    min_time: float = 1.0


@dataclass(frozen=True)
class BenchResult:
    """Every figure of one model at one batch size."""

    model: str
    batch_size: int
    mode: str
    input_shape: tuple[int, ...]
    median_s: float
    p10_s: float
    p90_s: float
    images_per_s: float
    flops_per_batch: int
    gflops_per_s: float
    peak_gflops: float
    share_of_peak: float
    peak_memory_bytes: int | None  # None where this platform cannot measure it
    measurements: int
    doubts: tuple[str, ...] = ()  # why the figure is too noisy to trust: a single sample, a wide spread, a busy machine

    @property
    def spread(self) -> float:
        """(p90 − p10) / median: how much the timings scatter."""
        return (self.p90_s - self.p10_s) / self.median_s if self.median_s else 0.0


@dataclass
class BenchReport:
    """Results plus the environment they were measured in."""

    results: list[BenchResult]
    environment: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "notes": self.notes, "results": [asdict(r) for r in self.results]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def make_step(model: nn.Module, x: torch.Tensor, mode: str, setup: DeviceSetup) -> Callable[[], None]:
    """One timed call: a forward pass, or forward + backward + optimizer step; :func:`device_clock` waits for the device."""
    if mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.no_grad(), setup.autocast():
                model(x)

        return infer
    classes = output_features(model, tuple(x.shape[1:]))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    target = torch.randint(0, classes, (x.shape[0],), device=x.device)

    def train_step() -> None:
        with setup.autocast():
            loss = nn.functional.cross_entropy(model(x).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return train_step


def dtype_name(setup: DeviceSetup) -> str:
    """The dtype the timed steps compute in: AMP's, else float32."""
    return str(setup.amp_dtype or torch.float32).removeprefix("torch.")


def device_clock(device: torch.device) -> Callable[[], float]:
    """perf_counter read after ``device`` has caught up: the timer's clock, so each timed block ends with one wait.

    Once per block, not per step, as ``compiled_baseline``'s bare loop waits once per block: a wait after every step
    would leave the GPU idle between steps and make the harness look slower than the loop it is compared with.
    """

    def read() -> float:
        synchronize(device)
        return time.perf_counter()

    return read


def flops_per_sample(name: str, input_size: tuple[int, ...], mode: str) -> int:
    """2 × the MACs cnnstat counts for one sample: the forward pass, plus the backward pass when training.

    Counted once per model: every figure scales with the batch.
    """
    from ..api import analyze

    totals = analyze(name, [input_size], convention="macs").totals
    return 2 * (totals["macs"] + (totals["backward_macs"] if mode == "train" else 0))


def time_model(name: str, options: BenchOptions, setup: DeviceSetup, threads: int, peak_gflops: Callable[[], float],
               notes: list[str], progress: Callable[[str], None]) -> list[BenchResult]:  # fmt: skip
    """Time ``name`` at every batch size; ``peak_gflops`` gives the device's compute peak at this dtype, measured (or
    read from the cache) once the model is built, so that a mistyped name costs no measurement."""
    from torch.utils import benchmark

    torch.manual_seed(0)
    resolved = resolve_model(name, on_meta=False)
    input_size = options.input_size or resolved.input_size
    if input_size is None:
        raise CnnstatError(f"{name} has no default input; pass --input CxHxW")
    per_sample = flops_per_sample(name, tuple(input_size), options.mode)
    model = resolved.module.to(setup.device)
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    runner: nn.Module = compile_or_note(model, notes) if options.compile else model
    peak = peak_gflops()
    results = []
    for batch in options.batch_sizes:
        progress(f"timing {name}, batch {batch}, {options.mode}…")
        x = torch.randn(batch, *input_size, device=setup.device)
        if setup.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        step = make_step(runner, x, options.mode, setup)
        with track_peak(setup.device) as memory:
            for _ in range(3):  # warm-up: allocator, oneDNN/cuDNN plans, compilation
                step()
            timer = benchmark.Timer("step()", globals={"step": step}, num_threads=threads, timer=device_clock(setup.device))
            measurement = timer.blocked_autorange(min_run_time=options.min_time)
            times = list(measurement.times)
            while len(times) < MIN_RUNS:  # a slow step fills min_time in one run: a median needs several
                times.append(timer.timeit(1).median)
        spread = spread_of(times)
        median = spread.median
        load, cores = machine_load()
        doubts = tuple(spread.doubts(load, cores))
        flops = per_sample * batch
        achieved = flops / median / 1e9
        results.append(BenchResult(
            model=resolved.name, batch_size=batch, mode=options.mode, input_shape=(batch, *input_size), median_s=median,
            p10_s=spread.p10, p90_s=spread.p90, images_per_s=batch / median, flops_per_batch=flops, gflops_per_s=achieved,
            peak_gflops=peak, share_of_peak=achieved / peak, peak_memory_bytes=memory.bytes, measurements=len(times),
            doubts=doubts,
        ))  # fmt: skip
    return results


def compile_or_note(model: nn.Module, notes: list[str]) -> nn.Module:
    """torch.compile where it works; a note (and the eager model) where it does not."""
    try:
        return torch.compile(model)  # type: ignore[return-value]
    except Exception as error:  # compile fails in many ways across platforms
        notes.append(f"--compile: not applied ({type(error).__name__}: {str(error).splitlines()[0]})")
        return model


def resolve_setup(options: BenchOptions, notes: list[str]) -> DeviceSetup:
    """The device, with each requested fast path applied where it makes sense, else a note."""
    setup = select_device(options.device, amp=options.amp, channels_last=options.channels_last)
    if options.amp and setup.amp_dtype is None:
        reason = (
            "this CPU has no native bf16"
            if setup.device.type == "cpu" and not cpu_has_native_bf16()
            else f"not supported on {setup.device.type}"
        )
        notes.append(f"--amp: not applied ({reason}); timing float32")
    return setup


def run_bench(models: list[str], options: BenchOptions, progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    """Time every model at every batch size; one report."""
    if options.mode not in MODES:
        raise CnnstatError(f"unknown mode {options.mode!r}; choose infer or train")
    if not options.batch_sizes or any(b < 1 for b in options.batch_sizes):
        raise CnnstatError("batch sizes must be at least 1")
    if options.threads is not None and not 1 <= options.threads <= max_threads():
        raise CnnstatError(f"--threads {options.threads}: choose 1 to {max_threads()} (4 × the {os.cpu_count() or 1} cores "
                           "here, at most 1024)")  # fmt: skip
    from ..profile.peaks import machine_peaks  # profile/ builds on benchmark/peak.py: imported here, not at the top

    for name in models:  # every name built on meta first: a mistyped last one fails before minutes of timing
        progress(f"building {name} on meta…")
        resolve_model(name)
    notes: list[str] = []
    setup = resolve_setup(options, notes)
    threads = options.threads or os.cpu_count() or 1

    @functools.cache
    def peak_gflops() -> float:
        """The same measured peaks as profile and device (one probe a run, one cache): the best matmul or convolution."""
        peaks = machine_peaks(setup, threads, progress=progress)
        not_cached = peaks.not_cached_line()
        if not_cached is not None:  # a busy machine: its peak may read low, and the share of it high
            notes.append(not_cached)
        return peaks.compute_gflops(dtype_name(setup))

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = [r for name in models for r in time_model(name, options, setup, threads, peak_gflops, notes, progress)]
    finally:
        torch.set_num_threads(previous_threads)
    environment = {
        "torch": torch.__version__, "device": device_name(setup), "device_type": setup.device.type, "threads": threads,
        "dtype": dtype_name(setup), "amp": setup.amp_dtype is not None,
        "channels_last": setup.channels_last, "compile": options.compile and not any("--compile" in n for n in notes),
        "min_time_s": options.min_time, "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    return BenchReport(results, environment, notes)
