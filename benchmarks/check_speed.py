"""How close is `invoke check` (all layers x environments) to the cost of merely starting?

    python benchmarks/check_speed.py [--runs 7]

The floor is a fresh Python that imports invoke, pulumi and the pulumi_aws modules the
programs use (read from the committed snapshots; each module is loaded for real, since
pulumi_aws loads its submodules lazily) and nothing else. Floor and `invoke check` run
alternately in the same session, several times each; the medians are compared. Target:
check within 1.5x of the floor. Also printed: what one in-process `run_check` costs once
everything is imported (the rendering, comparison and policy rules of all the stacks).

A benchmark, not a timed test: machines differ, so the figures are printed for the README,
not asserted. Exits 0 either way (1 only when a command fails).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = "projects/*/tests/snapshots/*.json"
TARGET_RATIO = 1.5


def pulumi_aws_classes_used() -> list[tuple[str, str]]:
    """(module, class) of every aws resource type in the snapshots, e.g. ("s3", "Bucket")."""
    found = set()
    for path in REPO_ROOT.glob(SNAPSHOTS):
        for resource in json.loads(path.read_text())["resources"]:
            package, module_path, class_name = resource["type"].split(":")
            if package == "aws":
                module = module_path.split("/")[0]
                found.add(({"lambda": "lambda_"}.get(module, module), class_name))
    return sorted(found)


def floor_code() -> str:
    touches = "\n".join(
        f"pulumi_aws.{module}.{class_name}" for module, class_name in pulumi_aws_classes_used()
    )
    # The data sources the programs call live in pulumi_aws itself.
    return f"import invoke, pulumi, pulumi_aws\n{touches}\npulumi_aws.get_caller_identity_output\n"


_IN_PROCESS = """
import gc, time
from shared.consistency.check import run_check
run_check()  # imports and first render
gc.disable()  # as the check task does
times = []
for _ in range({runs}):
    started = time.perf_counter()
    report = run_check()
    times.append(time.perf_counter() - started)
assert report.ok
times.sort()
print("IN_PROCESS", times[len(times) // 2], report.stack_count)
"""


# Byte-code caching on, as on a developer's machine or a CI runner: with
# PYTHONDONTWRITEBYTECODE set (some containers set it), every run would compile the
# repository's modules again, a cost the floor (site-packages, compiled at install) never pays.
ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, check=True, env=ENVIRONMENT)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (default 7)")
    runs = parser.parse_args().runs

    floor = [sys.executable, "-c", floor_code()]
    check = [sys.executable, "-m", "invoke", "check"]
    timed(floor), timed(check)  # warm the file and bytecode caches
    floor_times, check_times = [], []
    for _ in range(runs):  # alternate, so a noisy moment hits both
        floor_times.append(timed(floor))
        check_times.append(timed(check))
    floor_median = statistics.median(floor_times)
    check_median = statistics.median(check_times)
    ratio = check_median / floor_median

    probe = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS.format(runs=runs)],
        cwd=REPO_ROOT,
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(row for row in probe.stdout.splitlines() if row.startswith("IN_PROCESS "))
    _, in_process, stacks = line.split()

    modules = ", ".join(sorted({module for module, _ in pulumi_aws_classes_used()}))
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    rows = [
        ("floor: start python, import invoke, pulumi, pulumi_aws modules", floor_times),
        (f"invoke check: {stacks} stacks rendered and checked", check_times),
    ]
    print(f"{runs} runs of each, alternating; seconds; pulumi_aws modules: {modules}")
    print(f"  {'':<62}  median    min    max")
    for label, times in rows:
        print(f"  {label:<62}  {statistics.median(times):6.3f} {min(times):6.3f} {max(times):6.3f}")
    print(f"  ratio of medians: {ratio:.2f}x (target <= {TARGET_RATIO}x: {verdict})")
    print(f"  run_check in process, everything imported: {float(in_process) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
