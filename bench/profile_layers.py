"""Do the layers' times add up to the whole? resnet50 at batch 8 on the CPU (and vgg16 on a GPU where there is one).

Prints the uninstrumented whole forward, the sum of the per-layer times, and their difference as a share of the
whole (the issue's target: within 10%), the spread of each, and the layers that take the most time against their
floors, then profiles again and prints which trusted layers the two runs disagree on. Run: ``python bench/profile_layers.py [model] [batch] [repeats] [device] [threads]``.
"""

from __future__ import annotations

import sys

import torch

from cnnstat.benchmark.noise import WIDE_SPREAD
from cnnstat.counting.columns import counted
from cnnstat.profile.run import profile_model


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "resnet50"
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else torch.get_num_threads()
    torch.set_num_threads(threads)
    report = profile_model(
        model, batch=batch, device=device, repeats=repeats, threads=threads, progress=lambda m: print(m, file=sys.stderr)
    )
    whole = report.whole
    threads = torch.get_num_threads()
    print(f"{model} batch {batch} on {report.device} ({counted(threads, 'thread')}), {repeats} passes each")
    print(
        f"whole forward, no hooks: median {1000 * whole.median:,.2f} ms (p10–p90 {1000 * whole.p10:,.2f}–{1000 * whole.p90:,.2f})"
    )
    print(f"sum of {len(report.rows)} layers: {1000 * report.layers_s:,.2f} ms")
    print(f"difference: {100 * report.overhead:+.1f}% of the whole (target: within ±10%)")
    print(f"whole-model doubts: {', '.join(report.whole_doubts()) or 'none'}")
    flagged = sum(1 for row in report.rows if row.doubts)
    print(f"layers flagged too noisy: {flagged} of {len(report.rows)}")
    for compute in report.peaks.compute:
        print(f"peak {compute.dtype}: {compute.gflops:,.1f} GFLOP/s ({compute.kernel})")
    print("costliest layers: name, ms, floor ms, bound, % of roof")
    for row in sorted(report.rows, key=lambda r: r.time_s, reverse=True)[:10]:
        print(f"  {row.name:28s} {1000 * row.time_s:9.3f} {1000 * row.floor_s:9.3f} {row.bound:8s} {100 * row.of_roof:5.1f}%")
    beaten = [f"{row.name} ({row.floor_s / row.time_s:.2f}× faster)" for row in report.rows if row.time_s < row.floor_s]
    print(f"layers faster than their floor: {', '.join(beaten) or 'none'}")
    # a second profile of the same model: each layer not flagged as noisy should agree with the first within twice the
    # widest spread trusted (a timing check, so it is printed here rather than asserted in a unit test)
    again = profile_model(model, batch=batch, device=device, repeats=repeats, threads=threads)
    trusted = [(a, b) for a, b in zip(report.rows, again.rows, strict=True) if not (a.doubts or b.doubts)]
    apart = [f"{a.name} ({1000 * a.time_s:.3f} vs {1000 * b.time_s:.3f} ms)" for a, b in trusted
             if abs(a.time_s - b.time_s) > 2 * WIDE_SPREAD * max(a.time_s, b.time_s)]  # fmt: skip
    print(f"second run: {len(trusted)} layers unflagged in both, {len(apart)} of them apart by over "
          f"{200 * WIDE_SPREAD:.0f}%: {', '.join(apart) or 'none'}")  # fmt: skip


if __name__ == "__main__":
    main()
