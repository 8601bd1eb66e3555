"""Issue 6's targets: cnnstat bench's harness overhead against a bare torch.utils.benchmark loop
(same model, batch and threads; target: images/s within 3%), and the CPU speed-up of all cores
over one thread.

Each measurement runs in a fresh process, bare and cnnstat alternating round by round, so that
neither inherits the other's allocator or thread-pool state and drift in a shared machine hits
both alike; the medians are compared.

Run: .venv/bin/python bench/bench_overhead.py [--model resnet18] [--batch 4] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

BARE = """
import sys, torch
from torch.utils import benchmark
from cnnstat.zoo import resolve_model
model_name, batch, threads, min_time = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
resolved = resolve_model(model_name, on_meta=False)
model, x = resolved.module.eval(), torch.randn(batch, *resolved.input_size)
def forward():
    with torch.no_grad():
        model(x)
for _ in range(3):
    forward()
timer = benchmark.Timer("forward()", globals={"forward": forward}, num_threads=threads)
print(batch / timer.blocked_autorange(min_run_time=min_time).median)
"""


def bare(model: str, batch: int, threads: int, min_time: float) -> float:
    """Images/s of the loop a careful user writes by hand, in a fresh process."""
    command = [sys.executable, "-c", BARE, model, str(batch), str(threads), str(min_time)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip())


def cnnstat(model: str, batch: int, threads: int, min_time: float) -> float:
    """Images/s reported by `cnnstat bench`, in a fresh process."""
    command = [sys.executable, "-m", "cnnstat", "bench", model, "--device", "cpu", "--batch-size", str(batch),
               "--threads", str(threads), "--min-time", str(min_time), "--format", "json"]  # fmt: skip
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["results"][0]["images_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=2.0)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    bare_runs, ours = [], []
    for _ in range(args.rounds):
        bare_runs.append(bare(args.model, args.batch, threads, args.min_time))
        ours.append(cnnstat(args.model, args.batch, threads, args.min_time))
    ratio = statistics.median(ours) / statistics.median(bare_runs)
    # Each round's two runs sit side by side in time, so their ratio is robust to the machine's drift.
    paired = statistics.median(o / b for o, b in zip(ours, bare_runs, strict=True))
    ok = abs(1 - ratio) <= 0.03 and abs(1 - paired) <= 0.03
    quartiles = statistics.quantiles(bare_runs, n=4)
    noise = (quartiles[2] - quartiles[0]) / statistics.median(bare_runs)
    print(f"per round, bare: {', '.join(f'{v:.1f}' for v in bare_runs)}; cnnstat: {', '.join(f'{v:.1f}' for v in ours)} img/s")
    print(f"{args.model} batch {args.batch}, {threads} threads: bare loop {statistics.median(bare_runs):,.1f} img/s, "
          f"cnnstat bench {statistics.median(ours):,.1f} img/s (medians of {args.rounds} rounds), ratio {ratio:.3f}, "
          f"median of per-round ratios {paired:.3f} "
          f"(target: both within 3%) {'PASS' if ok else 'FAIL'}; round-to-round spread (IQR) of the bare loop {100 * noise:.1f}%")  # fmt: skip
    one = statistics.median(cnnstat(args.model, args.batch, 1, args.min_time) for _ in range(3))
    every = statistics.median(cnnstat(args.model, args.batch, threads, args.min_time) for _ in range(3))
    print(f"threads (cnnstat bench, medians of 3): 1 -> {one:,.1f} img/s, {threads} (the default: every core) -> "
          f"{every:,.1f} img/s, speed-up {every / one:.2f}x")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
