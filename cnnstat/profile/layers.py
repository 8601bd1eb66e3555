"""Per-layer time: each row of a report timed in real forward (and backward) passes, with an honest clock.

The rows are those the trace makes (``counting/trace.py``): a call of a leaf module, or a torch
function called outside leaf modules. Leaf modules are timed between forward pre- and post-hooks,
functional rows around the call (a TorchFunctionMode), backward passes between a leaf's full
backward pre- and post-hooks. On the CPU the clock is ``time.perf_counter``; on CUDA each span is a
pair of CUDA events read after the pass has synchronised, so no span ends before its kernels do.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..counting.layers import class_names, layer_counter_for


class Clock:
    """Spans on the CPU: perf_counter readings, exact once taken."""

    def mark(self) -> Any:
        return time.perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        return end - start

    def settle(self) -> None:
        """Wait until every span's end has happened (nothing to wait for on the CPU)."""


class CudaClock(Clock):
    """Spans on a GPU: CUDA events recorded on the stream, read after one synchronisation per pass."""

    def __init__(self, device: torch.device):
        self.device = device

    def mark(self) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, start: Any, end: Any) -> float:
        return start.elapsed_time(end) / 1000

    def settle(self) -> None:
        torch.cuda.synchronize(self.device)


def clock_for(device: torch.device) -> Clock:
    return CudaClock(device) if device.type == "cuda" else Clock()


@dataclass
class LayerSamples:
    """Every timed pass of the rows, in the order the rows ran: (row name, occurrence) -> seconds per pass."""

    forward: dict[tuple[str, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    backward: dict[tuple[str, int], list[float]] = field(default_factory=lambda: defaultdict(list))


def leaves(model: nn.Module) -> dict[nn.Module, str]:
    """The modules the trace gives rows of their own (no children, or a layer counter of their own), by name."""
    named = {module: name for name, module in model.named_modules()}
    return {m: (name or type(m).__name__) for m, name in named.items()
            if not any(True for _ in m.children()) or layer_counter_for(class_names(type(m)))}  # fmt: skip


class _FunctionTimer(TorchFunctionMode):
    """Times torch functions called outside leaf modules, outermost call only: the trace's functional rows."""

    def __init__(self, timer: LayerTimer):
        super().__init__()
        self.timer = timer
        self.depth = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", type(func).__name__)
        if name == "__get__" or self.depth or self.timer.inside_leaf():
            return func(*args, **kwargs)
        self.depth += 1
        start = self.timer.clock.mark()
        try:
            return func(*args, **kwargs)
        finally:
            self.timer.close(self.timer.functional_name(name), start)
            self.depth -= 1


class LayerTimer:
    """Hooks on a model that time each row of each pass; remove them with :meth:`remove`."""

    def __init__(self, model: nn.Module, clock: Clock, backward: bool):
        self.clock = clock
        self.names = {module: name for name, module in model.named_modules()}
        self.leaves = leaves(model)
        self.stack: list[nn.Module] = []
        self.open: list[tuple[str, Any]] = []  # spans begun in this pass, not yet read
        self.backward_open: dict[nn.Module, Any] = {}
        self.samples = LayerSamples()
        self.pass_spans: list[tuple[str, Any, Any, bool]] = []
        self.handles = []
        for module in self.names:
            self.handles.append(module.register_forward_pre_hook(self._pre))
            self.handles.append(module.register_forward_hook(self._post))
            if backward and module in self.leaves:
                self.handles.append(module.register_full_backward_pre_hook(self._backward_pre))
                self.handles.append(module.register_full_backward_hook(self._backward_post))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def inside_leaf(self) -> bool:
        return any(module in self.leaves for module in self.stack)

    def functional_name(self, function: str) -> str:
        owner = self.names[self.stack[-1]] if self.stack else ""
        return f"{owner}.{function}" if owner else function

    def close(self, name: str, start: Any, backward: bool = False) -> None:
        self.pass_spans.append((name, start, self.clock.mark(), backward))

    def _pre(self, module: nn.Module, args: Any) -> None:
        if module in self.leaves and not self.inside_leaf():
            self.open.append((self.leaves[module], self.clock.mark()))
        self.stack.append(module)

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        self.stack.pop()
        if module in self.leaves and not self.inside_leaf() and self.open:
            name, start = self.open.pop()
            self.close(name, start)

    def _backward_pre(self, module: nn.Module, grad_output: Any) -> None:
        self.backward_open[module] = self.clock.mark()

    def _backward_post(self, module: nn.Module, grad_input: Any, grad_output: Any) -> None:
        start = self.backward_open.pop(module, None)
        if start is not None:
            self.close(self.leaves[module], start, backward=True)

    def functions(self) -> _FunctionTimer:
        return _FunctionTimer(self)

    def end_pass(self) -> None:
        """Read this pass's spans (after the device has finished them) into the samples."""
        self.clock.settle()
        seen: dict[tuple[str, bool], int] = defaultdict(int)
        for name, start, end, backward in self.pass_spans:
            occurrence = seen[(name, backward)]
            seen[(name, backward)] += 1
            samples = self.samples.backward if backward else self.samples.forward
            samples[(name, occurrence)].append(self.clock.seconds(start, end))
        self.pass_spans.clear()


def time_layers(model: nn.Module, run: Callable[[], Any], device: torch.device, repeats: int, backward: bool,
                progress: Callable[[str], None] = lambda _: None) -> LayerSamples:  # fmt: skip
    """Run ``run`` (a forward, or forward and backward) ``repeats`` times after a warm-up, timing every row."""
    run()  # warm-up: allocator, oneDNN/cuDNN plans
    timer = LayerTimer(model, clock_for(device), backward)
    try:
        for index in range(repeats):
            progress(f"timing layers: pass {index + 1} of {repeats}…")
            with timer.functions():
                run()
            timer.end_pass()
    finally:
        timer.remove()
    return timer.samples


def time_whole(run: Callable[[], Any], device: torch.device, repeats: int) -> list[float]:
    """The uninstrumented pass, ``repeats`` times after a warm-up: no hooks, one span per pass."""
    clock = clock_for(device)
    run()
    times = []
    for _ in range(repeats):
        start = clock.mark()
        run()
        end = clock.mark()
        clock.settle()
        times.append(clock.seconds(start, end))
    return times
