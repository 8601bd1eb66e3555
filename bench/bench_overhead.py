"""Issue 6's targets: cnnstat bench's harness overhead against a bare torch.utils.benchmark loop
(same model, batch and threads, same run; target within 3%), and the CPU speed-up of all cores
over one thread.

Run: .venv/bin/python bench/bench_overhead.py [--model resnet18] [--batch 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
from torch.utils import benchmark

from cnnstat.bench import BenchOptions, run_bench
from cnnstat.zoo import resolve_model


def bare_images_per_s(model: torch.nn.Module, x: torch.Tensor, threads: int, min_time: float) -> float:
    """The loop a careful user writes by hand: no_grad forward, benchmark.Timer, explicit threads."""

    def forward() -> None:
        with torch.no_grad():
            model(x)

    for _ in range(3):
        forward()
    timer = benchmark.Timer("forward()", globals={"forward": forward}, num_threads=threads)
    return x.shape[0] / timer.blocked_autorange(min_run_time=min_time).median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=2.0)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    resolved = resolve_model(args.model, on_meta=False)
    model = resolved.module.eval()
    x = torch.randn(args.batch, *resolved.input_size)
    options = BenchOptions(device="cpu", batch_sizes=(args.batch,), min_time=args.min_time, threads=threads)
    bare, ours = [], []
    for _ in range(args.rounds):  # interleaved, so drift in the machine hits both alike
        bare.append(bare_images_per_s(model, x, threads, args.min_time))
        ours.append(run_bench([args.model], options).results[0].images_per_s)
    ratio = statistics.median(ours) / statistics.median(bare)
    ok_overhead = abs(1 - ratio) <= 0.03
    print(f"{args.model} batch {args.batch}, {threads} threads: bare loop {statistics.median(bare):,.1f} img/s, "
          f"cnnstat bench {statistics.median(ours):,.1f} img/s, ratio {ratio:.3f} (target within 3%) "
          f"{'PASS' if ok_overhead else 'FAIL'}")  # fmt: skip
    one = run_bench([args.model], BenchOptions(device="cpu", batch_sizes=(args.batch,), min_time=args.min_time, threads=1))
    every = run_bench([args.model], options)
    speedup = every.results[0].images_per_s / one.results[0].images_per_s
    print(f"threads: 1 -> {one.results[0].images_per_s:,.1f} img/s, {threads} (default) -> {every.results[0].images_per_s:,.1f} img/s, "
          f"speed-up {speedup:.2f}x; default thread count = {every.environment['threads']} = all {threads} cores")  # fmt: skip
    return 0 if ok_overhead else 1


if __name__ == "__main__":
    raise SystemExit(main())
