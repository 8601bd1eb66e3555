"""Per-layer time: each row of a report timed in real forward (and backward) passes, with an honest clock.

The rows are those the trace makes (``counting/trace.py``): a call of a leaf module, or a torch
function called outside leaf modules. Leaf modules are timed between forward pre- and post-hooks,
functional rows around the call (a TorchFunctionMode), a row's backward from the moment the first
autograd node its forward made starts to the moment the last one ends (node hooks). On the CPU the clock is ``time.perf_counter``; on CUDA each span is a
pair of CUDA events read after the pass has synchronised, so no span ends before its kernels do; on MPS each
reading waits for the device first (``devices.synchronize``).
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
from torch.utils._pytree import tree_flatten

from ..counting.layers import class_names, layer_counter_for
from ..devices import synchronize


class Clock:
    """Spans read with perf_counter after the device has caught up: exact on the CPU, and on MPS, which has no events here."""

    def __init__(self, device: torch.device):
        self.device = device

    def mark(self) -> Any:
        synchronize(self.device)  # nothing to wait for on the CPU
        return time.perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        return end - start

    def settle(self) -> None:
        """Wait until every span's end has happened."""
        synchronize(self.device)


class CudaClock(Clock):
    """Spans on a CUDA GPU: events recorded on the stream, read after one synchronisation per pass."""

    def mark(self) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds(self, start: Any, end: Any) -> float:
        return start.elapsed_time(end) / 1000


def clock_for(device: torch.device) -> Clock:
    return CudaClock(device) if device.type == "cuda" else Clock(device)


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
        made = _grad_nodes((args, kwargs)) if self.timer.backward else ()
        start = self.timer.clock.mark()
        try:
            result = func(*args, **kwargs)
        finally:
            row = self.timer.functional_name(name)
            self.timer.close(row, start)
            self.depth -= 1
        if self.timer.backward:
            self.timer.watch_backward(row, made, result)
        return result


class LayerTimer:
    """Hooks on a model that time each row of each pass; remove them with :meth:`remove`."""

    def __init__(self, model: nn.Module, clock: Clock, backward: bool):
        self.clock = clock
        self.names = {module: name for name, module in model.named_modules()}
        self.leaves = leaves(model)
        self.stack: list[nn.Module] = []
        self.backward = backward
        self.open: list[tuple[str, Any, tuple[Any, ...]]] = []  # spans begun in this pass, not yet read
        self.samples = LayerSamples()
        self.pass_spans: list[tuple[str, Any, Any, bool]] = []
        self.backward_marks: list[tuple[str, list[Any]]] = []  # per leaf call: its name, its backward's first and last marks
        self.handles = []
        for module in self.names:
            self.handles.append(module.register_forward_pre_hook(self._pre))
            self.handles.append(module.register_forward_hook(self._post))

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
            # the nodes that made its inputs, read now: an in-place layer (ReLU(inplace=True)) changes them
            self.open.append((self.leaves[module], self.clock.mark(), _grad_nodes(args) if self.backward else ()))
        self.stack.append(module)

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        self.stack.pop()
        if module in self.leaves and not self.inside_leaf() and self.open:
            name, start, inputs = self.open.pop()
            self.close(name, start)
            if self.backward:
                self.watch_backward(name, inputs, output)

    def watch_backward(self, name: str, inputs: tuple[Any, ...], output: Any) -> None:
        """Hook the autograd nodes this call made: its backward begins as the first starts and ends as the last ends."""
        outputs = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        nodes = _nodes_between(outputs, inputs)
        if not nodes:
            return
        marks: list[Any] = []
        self.backward_marks.append((name, marks))

        def started(*_: Any) -> None:
            if not marks:
                marks.append(self.clock.mark())

        def ended(*_: Any) -> None:
            if marks:
                del marks[1:]
                marks.append(self.clock.mark())

        for node in nodes:
            node.register_prehook(started)
            node.register_hook(ended)

    def functions(self) -> _FunctionTimer:
        return _FunctionTimer(self)

    def end_pass(self) -> None:
        """Read this pass's spans (after the device has finished them) into the samples."""
        self.clock.settle()
        self.pass_spans += [(name, marks[0], marks[-1], True) for name, marks in self.backward_marks if len(marks) == 2]
        self.backward_marks.clear()
        seen: dict[tuple[str, bool], int] = defaultdict(int)
        for name, start, end, backward in self.pass_spans:
            occurrence = seen[(name, backward)]
            seen[(name, backward)] += 1
            samples = self.samples.backward if backward else self.samples.forward
            samples[(name, occurrence)].append(self.clock.seconds(start, end))
        self.pass_spans.clear()


def _grad_nodes(value: Any) -> tuple[Any, ...]:
    """The autograd nodes that made the tensors in ``value``."""
    return tuple(t.grad_fn for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor) and t.grad_fn is not None)


def _nodes_between(outputs: list[torch.Tensor], inputs: tuple[Any, ...]) -> list[Any]:
    """The autograd nodes from ``outputs`` back to (not into) ``inputs``, the nodes that made the call's inputs."""
    stop = set(inputs)
    found: list[Any] = []
    seen: set[Any] = set()
    todo = [t.grad_fn for t in outputs]
    while todo:
        node = todo.pop()
        if node is None or node in seen or node in stop:
            continue
        seen.add(node)
        found.append(node)
        todo.extend(following for following, _ in node.next_functions)
    return found


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
