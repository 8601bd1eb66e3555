"""cnnstat's MACs of timm models beside FlopCounterMode on meta, over a sample of every timm family.

Each model is built by timm alone on meta (no weights, nothing downloaded) at its pretrained input size
and counted by FlopCounterMode (two FLOPs per multiply-accumulate); cnnstat counts ``timm:<name>``.
A model agrees when 2 × cnnstat's MACs equal FlopCounterMode's total, differs otherwise (the ops
FlopCounterMode counted and cnnstat's uncounted ops are printed), and is refused where either cannot
run it within the time limit.

Run: .venv/bin/python bench/timm_agreement.py [--per-family N] [--limit SECONDS]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.counting.time_limit import time_limit
from cnnstat.errors import CnnstatError


def sample(per_family: int) -> list[str]:
    """The first ``per_family`` architectures of each timm module (its family), in name order."""
    return [name for module in timm.list_modules() for name in sorted(timm.list_models(module=module))[:per_family]]


def flop_counter(name: str, size: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    """FlopCounterMode's total and per-op counts for timm's own build on meta."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *size, device="meta"))
    per_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return counter.get_total_flops(), per_op


def compare(name: str, limit: float) -> tuple[str, str]:
    """The verdict for one model and why."""
    try:
        with time_limit(limit, name):
            report = cnnstat.analyze(f"timm:{name}")
    except CnnstatError as error:
        return "refused", f"cnnstat: {str(error).splitlines()[0][:150]}"
    size = report.input_shape[1:]
    try:
        with time_limit(limit, name):
            theirs, per_op = flop_counter(name, size)
    except CnnstatError as error:
        return "refused", f"FlopCounterMode: {error}"
    except Exception as error:  # timm's own model on meta: any failure is the reference's, reported
        return "refused", f"FlopCounterMode: {type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
    ours = 2 * report.totals["macs"]
    if ours == theirs:
        return "agree", ""
    uncounted = ", ".join(f"{op} ×{calls}" for op, calls in Counter(op for _, op in report.uncounted).items()) or "none"
    return (
        "differ",
        f"2×MACs {ours:,} vs {theirs:,} ({(ours - theirs) / max(theirs, 1):+.2%}); FlopCounterMode ops {per_op}; cnnstat uncounted: {uncounted}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=1, help="Architectures per timm module.")
    parser.add_argument("--limit", type=float, default=60.0, help="Seconds per model, for each side.")
    options = parser.parse_args()
    names = sample(options.per_family)
    verdicts: Counter[str] = Counter()
    start = time.perf_counter()
    for name in names:
        verdict, why = compare(name, options.limit)
        verdicts[verdict] += 1
        print(f"{name}: {verdict}{' — ' + why if why else ''}", flush=True)
    seconds = time.perf_counter() - start
    print(f"\n{len(names)} timm models ({options.per_family} per family, {len(timm.list_modules())} families), "
          f"{seconds:.0f} s on {os.cpu_count()} cores: {verdicts['agree']} agree, {verdicts['differ']} differ, "
          f"{verdicts['refused']} refused")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
