"""How cheap is `invoke --list`? Median wall time of several runs, and proof that listing the
tasks imports neither pulumi nor pulumi_aws (nor boto3/moto).

    python benchmarks/tasks_import.py [--runs 7]

Target: median under 0.5 s. A benchmark, not a timed test: machines differ, so the figure is
printed for the README rather than asserted in the suite. Exits 1 when a heavy module is
imported, 0 otherwise (a slow median is reported, not failed).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
HEAVY = ("pulumi", "pulumi_aws", "boto3", "botocore", "moto")

_PROBE = f"""
import sys, time
started = time.perf_counter()
from invoke.main import program
program.run(["invoke", "--list"], exit=False)
elapsed = time.perf_counter() - started
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print("PROBE", elapsed, ",".join(heavy))
"""


def wall_times(runs: int) -> list[float]:
    command = [sys.executable, "-m", "invoke", "--list"]
    subprocess.run(command, cwd=REPO_ROOT, capture_output=True, check=True)  # warm caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO_ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def in_process_probe() -> tuple[float, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    line = next(row for row in result.stdout.splitlines() if row.startswith("PROBE "))
    _, elapsed, heavy = line.split(" ", 2)
    return float(elapsed), [name for name in heavy.split(",") if name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    runs = parser.parse_args().runs

    times = wall_times(runs)
    median = statistics.median(times)
    listing_only, heavy = in_process_probe()
    print(f"`invoke --list`, {runs} runs (new process each, interpreter start-up included):")
    print(f"  median {median:.3f} s   min {min(times):.3f} s   max {max(times):.3f} s")
    print(f"  target < {TARGET_SECONDS:.1f} s: {'met' if median < TARGET_SECONDS else 'MISSED'}")
    print(f"  loading tasks.py and listing, inside one process: {listing_only:.3f} s")
    print(f"  heavy modules imported by `invoke --list`: {', '.join(heavy) or 'none'}")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
