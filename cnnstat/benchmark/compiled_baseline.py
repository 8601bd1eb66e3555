"""The yardstick for ``cnnstat bench``'s harness: a bare ``torch.compile`` loop on the same device, batch and precision.

No timer object, no hooks, no synchronisation inside the loop: the model compiled with torch's defaults, run
back to back, the device waited for once at the end of each timed block, as the harness's clock
(``timing.device_clock``) waits once per block, so both time alike. What the harness measures beside it (its ratio) is what
its own machinery costs; on a GPU the harness should reach 0.97× of it or more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from ..devices import DeviceSetup, synchronize
from ..errors import CnnstatError
from ..zoo import resolve_model
from .timing import BenchOptions, BenchReport, make_step, resolve_setup

WARM_UP = 3  # calls before timing: compilation, the allocator, cuDNN's plans


@dataclass(frozen=True)
class BareLoop:
    """Images per second of the bare compiled loop, and how many calls and seconds it was timed over."""

    images_per_s: float
    calls: int
    seconds: float


def bare_compiled_loop(
    model: nn.Module, x: torch.Tensor, mode: str, setup: DeviceSetup, min_time: float, backend: str = "inductor"
) -> BareLoop:
    """``model`` compiled and run on ``x`` (a forward pass, or a training step with SGD) for at least ``min_time`` s."""
    # the harness's own step (timing.make_step), so the two differ only in how they are timed
    call = make_step(torch.compile(model, backend=backend), x, mode, setup)
    for _ in range(WARM_UP):
        call()
    synchronize(setup.device)
    calls, began = 0, time.perf_counter()
    # batches of calls between clock readings, so that the loop is not mostly reading the clock on a fast device
    while True:
        chunk = max(1, calls)  # doubling
        for _ in range(chunk):
            call()
        calls += chunk
        synchronize(setup.device)
        seconds = time.perf_counter() - began
        if seconds >= min_time:
            return BareLoop(calls * x.shape[0] / seconds, calls, seconds)


@dataclass(frozen=True)
class AgainstBare:
    """One of the harness's figures beside the bare compiled loop's, on the same model, batch and device."""

    model: str
    mode: str
    batch_size: int
    harness_images_per_s: float
    bare_images_per_s: float

    @property
    def ratio(self) -> float:
        return self.harness_images_per_s / self.bare_images_per_s if self.bare_images_per_s else 0.0


def against_bare(models: list[str], options: BenchOptions, report: BenchReport) -> list[AgainstBare]:
    """Time the bare compiled loop for every model and batch ``report`` holds, in the order run_bench timed them.

    Only against a harness that compiled: an eager harness beside a compiled loop measures compilation, not the harness.
    """
    if not report.environment["compile"]:
        raise CnnstatError("--against-compiled needs a compiled harness: add --compile (or compiling failed, see the note)")
    setup = resolve_setup(options, [])
    results = iter(report.results)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(report.environment["threads"])
    compared = []
    try:
        for name in models:
            torch.manual_seed(0)
            resolved = resolve_model(name, on_meta=False)
            input_size = options.input_size or resolved.input_size
            assert input_size is not None  # run_bench refused the model otherwise
            model = resolved.module.to(setup.device)
            if setup.channels_last:
                model = model.to(memory_format=torch.channels_last)
            for batch in options.batch_sizes:
                x = torch.randn(batch, *input_size, device=setup.device)
                if setup.channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                bare = bare_compiled_loop(model, x, options.mode, setup, options.min_time)
                result = next(results)
                compared.append(AgainstBare(result.model, options.mode, batch, result.images_per_s, bare.images_per_s))
    finally:
        torch.set_num_threads(previous_threads)
    return compared
