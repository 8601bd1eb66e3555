"""``profile_model``: a model's layers counted, timed on this device and set against the machine's roofline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from ..benchmark.noise import Spread, machine_load, spread_of
from ..devices import select_device
from ..errors import CnnstatError
from .layers import time_layers, time_whole
from .peaks import MachinePeaks, machine_peaks
from .published import PublishedDevice, published_device
from .roofline import floor_of, working_set

DTYPES = ("float32", "bfloat16", "float16")
#: The convention a roofline counts FLOPs in: 2 per MAC and 1 per elementwise operation, as the peaks are measured.
ROOFLINE_CONVENTION = "flops"


@dataclass(frozen=True)
class LayerProfile:
    """One row: what the layer costs by count, how long it took, and its floor on this machine (and on ``--on``)."""

    name: str
    type: str
    module: str
    flops: int
    bytes: int
    intensity: float  # FLOPs per byte
    time_s: float  # median forward (plus backward with --train)
    p10_s: float
    p90_s: float
    samples: int
    backward_s: float | None
    floor_s: float
    bound: str
    achieved_gflops: float
    achieved_gbs: float
    of_roof: float  # floor / time: 1 is on the roof
    doubts: tuple[str, ...] = ()
    on_floor_s: float | None = None  # the floor on the published device of --on: a bound, not a measurement

    @property
    def spread(self) -> float:
        return (self.p90_s - self.p10_s) / self.time_s if self.time_s else 0.0


@dataclass(frozen=True)
class ProfileReport:
    """Every row, the whole model's uninstrumented time, and the peaks the floors come from."""

    model: str
    input_shape: tuple[int, ...]
    device: str
    dtype: str
    train: bool
    repeats: int
    rows: tuple[LayerProfile, ...]
    whole: Spread
    peaks: MachinePeaks
    on: PublishedDevice | None = None
    notes: tuple[str, ...] = ()
    load: float | None = None
    cores: int | None = None  # the machine's, for the load to be read against

    def whole_doubts(self) -> list[str]:
        """Why the whole-model time is too noisy to trust, the machine's load read against its cores."""
        return self.whole.doubts(self.load, self.cores)

    @property
    def layers_s(self) -> float:
        return sum(row.time_s for row in self.rows)

    @property
    def overhead(self) -> float:
        """(sum of the layers − the whole model) / the whole model: the hooks' cost, plus work between layers."""
        return (self.layers_s - self.whole.median) / self.whole.median if self.whole.median else 0.0

    def furthest_below_roof(self, count: int = 5) -> list[LayerProfile]:
        """The layers furthest from their roof, weighted by the time they could save: time − floor, largest first."""
        return sorted(self.rows, key=lambda row: row.time_s - row.floor_s, reverse=True)[:count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "input": list(self.input_shape), "device": self.device, "dtype": self.dtype,
            "train": self.train, "repeats": self.repeats,
            "whole_s": self.whole.median, "whole_p10_s": self.whole.p10, "whole_p90_s": self.whole.p90,
            "layers_s": self.layers_s, "overhead": self.overhead, "load": self.load,
            "peaks": self.peaks.to_dict(), "on": asdict(self.on) if self.on else None, "notes": list(self.notes),
            "layers": [self.row_dict(row) for row in self.rows],
        }  # fmt: skip

    @staticmethod
    def row_dict(row: LayerProfile) -> dict[str, Any]:
        return {**asdict(row), "doubts": "; ".join(row.doubts), "spread": row.spread}


def _input(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.randn(*shape, device=device).to(dtype)


def profile_model(name: str, *, input_size: tuple[int, ...] | None = None, batch: int = 1, device: str = "auto",
                  dtype: str = "float32", train: bool = False, repeats: int = 20, on: str | None = None,
                  threads: int | None = None, remeasure: bool = False,
                  progress: Callable[[str], None] = lambda _: None) -> ProfileReport:  # fmt: skip
    """Count ``name``, time its layers ``repeats`` times on ``device`` in ``dtype``, and set each against its floor."""
    from ..api import analyze
    from ..zoo import resolve_model

    if dtype not in DTYPES:
        raise CnnstatError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if repeats < 1:
        raise CnnstatError("--repeats must be at least 1")
    published = published_device(on) if on is not None else None
    setup = select_device(device, amp=False, channels_last=False)
    threads = threads or torch.get_num_threads()
    torch_dtype = getattr(torch, dtype)
    progress(f"building {name}…")
    torch.manual_seed(0)
    resolved = resolve_model(name, on_meta=False)
    size = input_size or resolved.input_size
    if size is None:
        raise CnnstatError(f"{name} has no default input; pass --input CxHxW")
    shape = (batch, *size)
    notes: list[str] = []
    model = resolved.module.to(setup.device, torch_dtype)
    model.train(train)
    progress(f"counting {name}…")
    report = analyze(model, [tuple(size)], dtypes=[dtype], batch=batch, convention=ROOFLINE_CONVENTION, train=train)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        peaks = machine_peaks(setup, threads, remeasure, progress)
        x = _input(shape, torch_dtype, setup.device)
        run = _pass(model, x, train)
        progress(f"timing {name} whole…")
        whole = time_whole(run, setup.device, repeats)
        samples = time_layers(model, run, setup.device, repeats, train, progress)
        whole += time_whole(run, setup.device, repeats)  # before and after the layers: a drifting machine shows as spread
    finally:
        torch.set_num_threads(previous_threads)
    load, cores = machine_load()
    rows = []
    seen: dict[str, int] = {}
    for layer in report.layers:
        occurrence = seen.get(layer.name, 0)
        seen[layer.name] = occurrence + 1
        forward = samples.forward.get((layer.name, occurrence))
        if not forward:
            continue  # a row that did not run as its own call (a parameter-only row)
        backward = samples.backward.get((layer.name, occurrence)) if train else None
        times = [f + b for f, b in zip(forward, backward, strict=False)] if backward else forward
        rows.append(_profile_row(layer, spread_of(times), spread_of(backward).median if backward else None, dtype, peaks,
                                 published, load, cores))  # fmt: skip
    unmatched = len(report.layers) - len(rows)
    if unmatched:
        notes.append(f"{unmatched} of {len(report.layers)} rows were not timed on their own (they run no call of their own)")
    notes.append(f"FLOPs under the '{ROOFLINE_CONVENTION}' convention: 2 per MAC, 1 per elementwise operation")
    if train:
        notes.append("--train: a layer's time is its forward plus its backward; its floor counts 2 FLOPs per backward MAC "
                     "and the forward's bytes only")  # fmt: skip
    return ProfileReport(resolved.name, shape, peaks.device, dtype, train, repeats, tuple(rows), spread_of(whole), peaks,
                         published, tuple(notes), load, cores)  # fmt: skip


def _pass(model: nn.Module, x: torch.Tensor, train: bool) -> Callable[[], Any]:
    """One forward (no autograd), or one forward and backward of the outputs' sum."""
    if not train:

        def forward() -> Any:
            with torch.no_grad():
                return model(x)

        return forward

    def forward_backward() -> Any:
        model.zero_grad(set_to_none=True)
        output = model(x)
        output = output[0] if isinstance(output, (tuple, list)) else output
        output.float().sum().backward()

    return forward_backward


def _profile_row(layer: Any, spread: Spread, backward_s: float | None, dtype: str, peaks: MachinePeaks,
                 published: PublishedDevice | None, load: float | None, cores: int) -> LayerProfile:  # fmt: skip
    flops = layer.flops + (2 * layer.backward_macs if backward_s is not None else 0)
    moved = layer.bytes
    floor = floor_of(flops, moved, dtype, peaks, working_set(layer.ops))
    on_floor = floor_of(flops, moved, dtype, published).seconds if published is not None else None
    seconds = spread.median
    return LayerProfile(
        name=layer.name, type=layer.type, module=layer.module, flops=flops, bytes=moved,
        intensity=flops / moved if moved else 0.0, time_s=seconds, p10_s=spread.p10, p90_s=spread.p90,
        samples=spread.count, backward_s=backward_s, floor_s=floor.seconds, bound=floor.bound,
        achieved_gflops=flops / seconds / 1e9 if seconds else 0.0, achieved_gbs=moved / seconds / 1e9 if seconds else 0.0,
        of_roof=floor.seconds / seconds if seconds else 0.0, doubts=tuple(spread.doubts(load, cores)), on_floor_s=on_floor,
    )  # fmt: skip


def grouped(report: ProfileReport, key: Callable[[LayerProfile], str]) -> ProfileReport:
    """Rows summed by ``key`` (a module prefix, a layer type): times, FLOPs, bytes and floors add; rates recomputed."""
    groups: dict[str, list[LayerProfile]] = {}
    for row in report.rows:
        groups.setdefault(key(row), []).append(row)
    rows = []
    for name, members in groups.items():
        if len(members) == 1:
            rows.append(replace(members[0], name=name) if name != members[0].name else members[0])
            continue
        seconds = sum(m.time_s for m in members)
        flops, moved, floor = sum(m.flops for m in members), sum(m.bytes for m in members), sum(m.floor_s for m in members)
        on_floors = [m.on_floor_s for m in members]
        compute_time = sum(m.floor_s for m in members if m.bound == "compute")
        rows.append(LayerProfile(
            name=name, type=f"{len(members)} layers", module=name, flops=flops, bytes=moved,
            intensity=flops / moved if moved else 0.0, time_s=seconds, p10_s=sum(m.p10_s for m in members),
            p90_s=sum(m.p90_s for m in members), samples=min(m.samples for m in members),
            backward_s=sum(m.backward_s or 0.0 for m in members) if members[0].backward_s is not None else None,
            floor_s=floor, bound="compute" if compute_time >= floor - compute_time else "memory",
            achieved_gflops=flops / seconds / 1e9 if seconds else 0.0, achieved_gbs=moved / seconds / 1e9 if seconds else 0.0,
            of_roof=floor / seconds if seconds else 0.0,
            doubts=tuple(dict.fromkeys(d for m in members for d in m.doubts)),
            on_floor_s=sum(f for f in on_floors if f is not None) if on_floors[0] is not None else None,
        ))  # fmt: skip
    return replace(report, rows=tuple(rows))


def by_depth(report: ProfileReport, depth: int) -> ProfileReport:
    """One row per module ``depth`` levels down (``layer1``, ``layer1.0``); shallower rows as they are."""
    return grouped(
        report,
        lambda row: ".".join(row.module.split(".")[:depth]) if row.module and row.module.count(".") + 1 >= depth else row.name,
    )


def by_type(report: ProfileReport) -> ProfileReport:
    """One row per layer type (a module and the functional call of one op together)."""
    from ..counting.views import type_key

    names: dict[str, str] = {}
    for row in report.rows:  # named by the first type seen of each kind (ReLU and relu_ together as ReLU)
        names.setdefault(type_key(row.type), row.type)
    return grouped(report, lambda row: names[type_key(row.type)])


SORT_KEYS: dict[str, Callable[[LayerProfile], float]] = {
    "time": lambda row: row.time_s, "flops": lambda row: row.flops, "bytes": lambda row: row.bytes,
    "below-roof": lambda row: row.time_s - row.floor_s, "of-roof": lambda row: -row.of_roof,
}  # fmt: skip


def sorted_rows(report: ProfileReport, sort: str | None, count: int | None) -> ProfileReport:
    """Rows sorted by ``sort`` (largest first; of-roof: furthest below first), the first ``count`` if given."""
    rows = list(report.rows)
    if sort is not None:
        if sort not in SORT_KEYS:
            raise CnnstatError(f"unknown --sort {sort!r}; choose one of {', '.join(SORT_KEYS)}")
        rows.sort(key=SORT_KEYS[sort], reverse=True)
    return replace(report, rows=tuple(rows[:count] if count else rows))


def measure_latency(name: str, input_shape: tuple[int, ...], device: str = "auto", repeats: int = 20) -> dict[str, Any]:
    """A model's uninstrumented forward on ``device`` at ``input_shape`` (batch first): median latency, spread, images/s."""
    from ..zoo import resolve_model

    setup = select_device(device, amp=False, channels_last=False)
    torch.manual_seed(0)
    model = resolve_model(name, on_meta=False).module.to(setup.device)
    x = torch.randn(*input_shape, device=setup.device)
    spread = spread_of(time_whole(_pass(model, x, train=False), setup.device, repeats))
    load, cores = machine_load()
    return {"latency_ms": 1000 * spread.median, "latency_p10_ms": 1000 * spread.p10, "latency_p90_ms": 1000 * spread.p90,
            "images_per_s": input_shape[0] / spread.median, "timing_doubts": "; ".join(spread.doubts(load, cores))}  # fmt: skip
