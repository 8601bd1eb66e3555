"""``cnnstat bench``: inference and training speed, tied to the counted FLOPs and the device's peak.

Timing uses torch.utils.benchmark's ``blocked_autorange`` with the thread count set explicitly
(its default is one thread), after warm-up; CUDA work is synchronised inside the timed call.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import write_atomically
from .devices import DeviceSetup, cpu_has_native_bf16, select_device
from .errors import CnnstatError
from .zoo import output_features, resolve_model

MODES = ("infer", "train")


@dataclass(frozen=True)
class BenchOptions:
    """What to run and how."""

    device: str = "auto"
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
    peak_memory_bytes: int
    measurements: int

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

    def to_json(self) -> str:
        return json.dumps(
            {"environment": self.environment, "notes": self.notes, "results": [asdict(r) for r in self.results]}, indent=2
        )


# ---------------------------------------------------------------------------------------------
# Device peak: a short matrix-multiply probe, cached per device, dtype and thread count
# ---------------------------------------------------------------------------------------------


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
            cached = json.loads(cache.read_text())
        except json.JSONDecodeError:
            cached = {}
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


# ---------------------------------------------------------------------------------------------
# Timing one model
# ---------------------------------------------------------------------------------------------


def resident_bytes() -> int:
    """Current resident memory of this process (Linux), else 0."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def max_resident_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_step(model: nn.Module, x: torch.Tensor, mode: str, setup: DeviceSetup) -> Callable[[], None]:
    """One timed call: a forward pass, or forward + backward + optimizer step."""
    sync = torch.cuda.synchronize if setup.device.type == "cuda" else (lambda: None)
    if mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.no_grad(), setup.autocast():
                model(x)
            sync()

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
        sync()

    return train_step


def counted_flops(name: str, input_size: tuple[int, ...], batch: int, mode: str) -> int:
    """2 × MACs of a forward pass from cnnstat's own count; training costs three forward passes."""
    from .analysis import analyze

    macs = analyze(name, input_size, batch=batch, convention="macs").totals["macs"]
    return 2 * macs * (3 if mode == "train" else 1)


def time_model(name: str, options: BenchOptions, setup: DeviceSetup, threads: int, notes: list[str],
               progress: Callable[[str], None]) -> list[BenchResult]:  # fmt: skip
    """Time ``name`` at every batch size."""
    from torch.utils import benchmark

    torch.manual_seed(0)
    resolved = resolve_model(name, on_meta=False)
    input_size = options.input_size or resolved.input_size
    if input_size is None:
        raise CnnstatError(f"{name} has no default input; pass --input CxHxW")
    model = resolved.module.to(setup.device)
    if setup.channels_last:
        model = model.to(memory_format=torch.channels_last)
    runner: nn.Module = model
    if options.compile:
        runner = compile_or_note(model, notes)
    dtype = setup.amp_dtype or torch.float32
    peak = measure_peak_gflops(setup, dtype, threads)
    results = []
    for batch in options.batch_sizes:
        progress(f"timing {name}, batch {batch}, {options.mode}…")
        x = torch.randn(batch, *input_size, device=setup.device)
        if setup.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        step = make_step(runner, x, options.mode, setup)
        if setup.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(setup.device)
        before = resident_bytes()
        for _ in range(3):  # warm-up: allocator, oneDNN/cuDNN plans, compilation
            step()
        timer = benchmark.Timer("step()", globals={"step": step}, num_threads=threads)
        measurement = timer.blocked_autorange(min_run_time=options.min_time)
        times = sorted(measurement.times)
        median = measurement.median
        deciles = statistics.quantiles(times, n=10) if len(times) > 1 else [median] * 9
        p10, p90 = deciles[0], deciles[-1]
        if setup.device.type == "cuda":
            memory = torch.cuda.max_memory_allocated(setup.device)
        else:
            memory = max(0, max_resident_bytes() - before)
        flops = counted_flops(name, tuple(input_size), batch, options.mode)
        achieved = flops / median / 1e9
        results.append(BenchResult(
            model=resolved.name, batch_size=batch, mode=options.mode, input_shape=(batch, *input_size), median_s=median,
            p10_s=p10, p90_s=p90, images_per_s=batch / median, flops_per_batch=flops, gflops_per_s=achieved,
            peak_gflops=peak, share_of_peak=achieved / peak, peak_memory_bytes=memory, measurements=len(times),
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
    if any(b < 1 for b in options.batch_sizes):
        raise CnnstatError("batch sizes must be at least 1")
    notes: list[str] = []
    setup = resolve_setup(options, notes)
    threads = options.threads or os.cpu_count() or 1
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = [r for name in models for r in time_model(name, options, setup, threads, notes, progress)]
    finally:
        torch.set_num_threads(previous_threads)
    environment = {
        "torch": torch.__version__, "device": device_name(setup), "device_type": setup.device.type, "threads": threads,
        "dtype": str(setup.amp_dtype or torch.float32).removeprefix("torch."), "amp": setup.amp_dtype is not None,
        "channels_last": setup.channels_last, "compile": options.compile and not any("--compile" in n for n in notes),
        "min_time_s": options.min_time, "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }  # fmt: skip
    return BenchReport(results, environment, notes)


# ---------------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A result beside the same measurement in a baseline."""

    model: str
    batch_size: int
    mode: str
    before: float
    after: float
    verdict: str  # faster | slower | unchanged | new

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before else float("nan")


def compare_baseline(report: BenchReport, baseline: Path) -> list[Change]:
    """Images/s beside a baseline JSON; changes beyond the measured spread are faster/slower."""
    try:
        document = json.loads(baseline.read_text())
        old = {(r["model"], r["batch_size"], r["mode"]): r for r in document["results"]}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise CnnstatError(f"--baseline {baseline}: not a cnnstat bench JSON ({error})") from None
    changes = []
    for result in report.results:
        earlier = old.get((result.model, result.batch_size, result.mode))
        if earlier is None:
            changes.append(Change(result.model, result.batch_size, result.mode, 0.0, result.images_per_s, "new"))
            continue
        before = earlier["images_per_s"]
        earlier_spread = (earlier["p90_s"] - earlier["p10_s"]) / earlier["median_s"] if earlier["median_s"] else 0.0
        threshold = max(result.spread, earlier_spread)
        change = result.images_per_s / before - 1 if before else 0.0
        verdict = "faster" if change > threshold else "slower" if change < -threshold else "unchanged"
        changes.append(Change(result.model, result.batch_size, result.mode, before, result.images_per_s, verdict))
    return changes
