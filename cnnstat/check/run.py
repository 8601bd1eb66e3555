"""``check_model``: one model, one trace, every reference asked for; ``guard_model`` adds its snapshot and budgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..counting.inputs import InputSpec, fit_to_defaults, meta_inputs
from ..counting.records import format_shape
from ..counting.report import Report, count_trace
from ..counting.trace import trace
from ..errors import CnnstatError, InputShapeError
from ..zoo import ModelEntry, resolve_model
from ..zoo.sources import get_source
from .backward import check_torch_backward
from .budgets import Budget, BudgetCheck, breaches, held_against
from .comparison import ModelCheck
from .identity import model_identity
from .references import check_fvcore, check_paper, check_torch, check_torchvision, torchvision_gflops_not_compared
from .snapshot import SnapshotResult, compare_snapshot

REFERENCES = ("fvcore", "torch", "torchvision", "paper")


def check_model(name: str, inputs: Sequence[InputSpec] = (), against: Sequence[str] = REFERENCES) -> ModelCheck:
    """Every comparison for one model, at its default inputs or ``inputs``, against the chosen references."""
    unknown = set(against) - set(REFERENCES)
    if unknown:
        raise CnnstatError(f"unknown reference {', '.join(sorted(unknown))}; choose from {', '.join(REFERENCES)}")
    meta = resolve_model(name)
    source = get_source(meta.source)
    cannot = {ref: why for ref, why in (source.unavailable_references if source else {}).items() if ref in against}
    against = [reference for reference in against if reference not in cannot]
    specs = fit_to_defaults(list(inputs), meta.inputs) if inputs else list(meta.inputs or [])
    if not specs:
        raise InputShapeError(f"{name} has no default input; give its shape with --input")
    args, kwargs = meta_inputs(specs, 1)
    report = count_trace(trace(meta.module, args, kwargs), name=meta.name)  # one trace for every ledger
    result = ModelCheck(meta.name, report.input_shape, report)
    result.unavailable.update(cannot)
    real = None
    if {"fvcore", "torch"} & set(against):
        too_big = _too_big_to_build(meta.module)
        if too_big:
            for reference in ("fvcore", "torch"):
                if reference in against:
                    result.unavailable[reference] = too_big
            against = [reference for reference in against if reference not in ("fvcore", "torch")]
        else:
            torch.manual_seed(0)
            real = resolve_model(name, on_meta=False).module
    if "fvcore" in against:
        try:
            result.comparisons += check_fvcore(real, report, specs)
        except Exception as error:  # fvcore's jit trace fails on some models; say so, don't crash
            result.unavailable["fvcore"] = _reason(error)
    if "torch" in against:
        try:
            result.comparisons += check_torch(meta.module, report, real, specs)
            result.comparisons += check_torch_backward(meta.module, report, specs)
        except Exception as error:  # a real pass torch refuses, as float32 weights given a bfloat16 input
            result.unavailable["torch"] = _reason(error)
    if "torchvision" in against:
        result.comparisons += check_torchvision(meta.torchvision_name, report)
        why = torchvision_gflops_not_compared(meta.torchvision_name, report)
        if why:
            result.unavailable["torchvision GFLOPS"] = why
    if "paper" in against:
        figures = check_paper(meta.entry, report)
        if not figures:
            result.unavailable["paper"] = _no_paper_figures(meta.entry, report)
        result.comparisons += figures
    return result


def _reason(error: Exception) -> str:
    """Why a reference could not run, in one short line."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:160]


def _no_paper_figures(entry: ModelEntry | None, report: Report) -> str:
    if entry is None or not entry.published:
        return "none recorded for this model"
    return f"the paper's figures are for input 1×{format_shape(entry.input_size)}, not {format_shape(report.input_shape)}"


def _available_bytes() -> int | None:
    """Memory the system can still give this process (Linux's MemAvailable), or None where it does not say."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _too_big_to_build(meta_module: torch.nn.Module) -> str:
    """Why fvcore's and torch's references cannot run a real copy of the model here, or "" where they can."""
    weights = sum(t.numel() * t.element_size() for t in [*meta_module.parameters(), *meta_module.buffers()])
    available = _available_bytes()
    if available is not None and weights > available // 2:
        return f"its {weights / 2**30:,.1f} GiB of weights need a real copy, and {available / 2**30:,.1f} GiB are free"
    return ""


def ci_frozen(environ: Mapping[str, str]) -> bool:
    """Whether ``CI`` is set (GitHub, GitLab and most others set ``CI=true``): there a missing snapshot is an error."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class GuardResult:
    """One model's check, its snapshot comparison and the budgets it breaks."""

    check: ModelCheck
    key: str
    snapshot: SnapshotResult | None
    breaches: tuple[str, ...]  # a line for each budget broken, with the layers that cost or grew most
    budgets: tuple[BudgetCheck, ...]  # every budget with its figure, kept or broken

    @property
    def failed(self) -> bool:
        return not self.check.ok or bool(self.breaches) or (self.snapshot is not None and self.snapshot.failed)


def guard_model(name: str, inputs: Sequence[InputSpec], against: Sequence[str], *, snapshots: Path | None = None,
                update: bool = False, frozen: bool = False, budgets: Sequence[Budget] = ()) -> GuardResult:  # fmt: skip
    """``check_model``, then the snapshot under the model's identity and the budgets against its totals."""
    result = check_model(name, inputs, against)
    key = model_identity(name, result.model)
    result.model = key  # shown as the snapshot knows it: a file relative to its project, wherever cnnstat runs
    snap = None
    if snapshots is not None:
        snap = compare_snapshot(result.report, snapshots, update, key=key, frozen=frozen)
    stored = None if snap is None or snap.status == "updated" else snap.stored
    return GuardResult(result, key, snap, tuple(breaches(result.report, list(budgets), stored)),
                       tuple(held_against(result.report, list(budgets))))
