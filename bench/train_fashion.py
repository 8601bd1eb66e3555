"""Issue 5's targets: the three recipes run through the CLI, side by side, on this machine.

- classic (lenet-fashion, the classic sigmoid LeNet recipe) reaches about that recipe's 85%;
- fast (fashion-fast): >= 90.0% test accuracy in <= 0.2x the classic recipe's wall time;
- best (fashion-vgg): >= 93.5% within 10 minutes.

Accuracy is the test accuracy after the last epoch (no picking of the best epoch on the test set);
wall time is the whole command, start-up and data loading included.
Run: .venv/bin/python bench/train_fashion.py [--skip-best]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = (("classic", "lenet-fashion"), ("fast", "fashion-fast"), ("best", "fashion-vgg"))


def run(recipe: str, model: str, folder: Path) -> tuple[float, float]:
    """Wall seconds and final test accuracy of `cnnstat train MODEL --recipe RECIPE`."""
    out = folder / recipe
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cnnstat", "train", model, "--recipe", recipe, "--device", "cpu", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    seconds = time.perf_counter() - start
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    return seconds, epochs[-1]["test_acc"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-best", action="store_true", help="leave out the 10-minute best recipe")
    skip_best = parser.parse_args().skip_best
    results, verdicts = {}, []
    with tempfile.TemporaryDirectory() as folder:
        for recipe, model in RUNS:
            if recipe == "best" and skip_best:
                continue
            results[recipe] = run(recipe, model, Path(folder))
            seconds, accuracy = results[recipe]
            print(f"{recipe:8} {model:14} {seconds:7.1f} s  test accuracy {100 * accuracy:.2f}%", flush=True)
    classic_s, classic_acc = results["classic"]
    ok = abs(100 * classic_acc - 85.0) <= 2.0
    verdicts.append(ok)
    print(f"classic: {100 * classic_acc:.2f}% vs the classic recipe's about 85% (within 2 points) {'PASS' if ok else 'FAIL'}")
    fast_s, fast_acc = results["fast"]
    ratio = fast_s / classic_s
    ok = fast_acc >= 0.90 and ratio <= 0.2
    verdicts.append(ok)
    print(
        f"fast: {100 * fast_acc:.2f}% (target >= 90.00) in {ratio:.2f}x the classic wall time (target <= 0.20) {'PASS' if ok else 'FAIL'}"
    )
    if "best" in results:
        best_s, best_acc = results["best"]
        ok = best_acc >= 0.935 and best_s <= 600
        verdicts.append(ok)
        print(f"best: {100 * best_acc:.2f}% (target >= 93.50) in {best_s:.0f} s (target <= 600) {'PASS' if ok else 'FAIL'}")
    print(f"machine: {os.cpu_count()} CPU cores")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
