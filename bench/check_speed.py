"""Issue 4's target: `cnnstat check --all` (every reference, default inputs) within 60 s.

Run: .venv/bin/python bench/check_speed.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

TARGET_SECONDS = 60.0


def main() -> int:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "cnnstat", "check", "--all"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    verdicts = [line for line in result.stdout.splitlines() if ": OK" in line or ": FAILED" in line]
    print("\n".join(verdicts))
    ok = result.returncode == 0 and seconds <= TARGET_SECONDS
    print(f"cnnstat check --all: {seconds:.1f} s on {os.cpu_count()} cores, exit {result.returncode} "
          f"(target <= {TARGET_SECONDS:.0f} s, exit 0) {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
