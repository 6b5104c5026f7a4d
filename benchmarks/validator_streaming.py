"""Benchmark the validator Lambda's streaming CSV path against plain csv.reader.

    python benchmarks/validator_streaming.py                  # 20 and 200 MiB
    python benchmarks/validator_streaming.py --sizes-mb 20,200,500 --repeats 3

For each size a CSV is generated on disk (in a temporary directory), then validated in a fresh
child process by ``validator.validate_csv`` reading the file through a botocore StreamingBody,
exactly as the handler reads get_object's Body, and, in another fresh child, parsed by plain
``csv.reader`` over the same bytes. Each child reports its elapsed time and peak RSS
(``ru_maxrss``), so one run's memory cannot inflate another's. Both children import the validator
module first, so their RSS figures share the same baseline.

Targets (issue 3): the 200 MiB object's peak RSS within a few tens of MiB of the 20 MiB object's,
and validator throughput at least half of the csv.reader baseline. Not a test: it asserts nothing.
"""

import argparse
import csv
import importlib
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.response import StreamingBody

COMPUTE_DIR = Path(__file__).resolve().parents[1] / "projects" / "compute"
MIB = 1024 * 1024
MODES = ("csv.reader", "validator")

HEADER = "order_id,created_at,customer,city,amount_eur,note\n"
CUSTOMERS = ("Zoë Müller", "Łukasz Nowak", "José Ñúñez", "李小龍", "Ana", "O'Brien")
CITIES = ('"São Paulo, BR"', "Zürich", "Kraków", '"Washington, D.C."', "東京")
NOTES = ('"said ""hi"", left"', "plain note", '"two\nlines"', "", "⚠ check VAT")


def load_validator() -> ModuleType:
    """The validator's formats module, imported from its package as the Lambda runtime would."""
    sys.path.insert(0, str(COMPUTE_DIR))
    return importlib.import_module("validator.formats")


def write_csv(path: Path, size_bytes: int, seed: int = 3) -> int:
    """Write a realistic CSV of at least ``size_bytes``; return its number of data rows."""
    rng = random.Random(seed)
    rows = 0
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        written += out.write(HEADER)
        while written < size_bytes:
            # Build a batch of rows per write; one write per row would dominate generation time.
            batch = []
            for _ in range(10_000):
                rows += 1
                batch.append(
                    f"{rows},2025-11-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:"
                    f"{rng.randint(0, 59):02d}:00Z,{rng.choice(CUSTOMERS)},"
                    f"{rng.choice(CITIES)},{rng.randint(0, 99_999) / 100:.2f},"
                    f"{rng.choice(NOTES)}\n"
                )
            written += len("".join(batch).encode())
            out.write("".join(batch))
    return rows


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if platform.system() == "Darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MIB


def run_child(mode: str, path: Path) -> dict[str, Any]:
    """In the child process: validate or parse the file once and report the figures."""
    validator = load_validator()
    rss_before = peak_rss_mib()
    started = time.perf_counter()
    if mode == "validator":
        with path.open("rb") as raw:
            # The handler's get_object Body is a StreamingBody; wrap the file in one so the
            # validator reads through the same read(n) calls and length check as in Lambda.
            result = validator.validate_csv(StreamingBody(raw, path.stat().st_size))
        rows, status = result.record_count, result.status
    else:
        with path.open(encoding="utf-8", newline="") as text:
            rows = sum(1 for _ in csv.reader(text)) - 1  # minus the header
        status = "-"
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "seconds": seconds,
        "rows": rows,
        "status": status,
        "rss_after_import_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure(mode: str, path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", default="20,200", help="comma-separated sizes in MiB")
    parser.add_argument("--repeats", type=int, default=1, help="runs per mode and size (best)")
    parser.add_argument("--tmpdir", default=None, help="where to write the generated CSVs")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        mode, path = args.child
        print(json.dumps(run_child(mode, Path(path))))
        return

    sizes = [int(size) for size in args.sizes_mb.split(",")]
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    print(
        f"{'size':>8} {'mode':<11} {'seconds':>8} {'MiB/s':>7} {'peak RSS':>9} "
        f"{'RSS after import':>16} {'rows':>10}"
    )
    validator_peaks: dict[int, float] = {}
    ratios: dict[int, float] = {}
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as workdir:
        for size_mib in sizes:
            path = Path(workdir) / f"bench-{size_mib}mib.csv"
            expected_rows = write_csv(path, size_mib * MIB)
            actual_mib = path.stat().st_size / MIB
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeats):
                for mode in MODES:
                    figures = measure(mode, path)
                    if mode not in best or figures["seconds"] < best[mode]["seconds"]:
                        best[mode] = figures
            for mode in MODES:
                figures = best[mode]
                assert figures["rows"] == expected_rows, figures
                assert figures["status"] in ("VALID", "-"), figures
                print(
                    f"{actual_mib:>5.0f}MiB {mode:<11} {figures['seconds']:>8.2f} "
                    f"{actual_mib / figures['seconds']:>7.1f} "
                    f"{figures['peak_rss_mib']:>6.1f}MiB "
                    f"{figures['rss_after_import_mib']:>13.1f}MiB {figures['rows']:>10}"
                )
            validator_peaks[size_mib] = best["validator"]["peak_rss_mib"]
            ratios[size_mib] = best["csv.reader"]["seconds"] / best["validator"]["seconds"]
            path.unlink()

    for size_mib, ratio in ratios.items():
        print(f"{size_mib} MiB: validator throughput = {ratio:.2f} x csv.reader (target >= 0.5)")
    smallest, largest = min(validator_peaks), max(validator_peaks)
    if smallest != largest:
        growth = validator_peaks[largest] - validator_peaks[smallest]
        print(
            f"validator peak RSS {validator_peaks[smallest]:.1f} MiB at {smallest} MiB, "
            f"{validator_peaks[largest]:.1f} MiB at {largest} MiB: +{growth:.1f} MiB"
        )


if __name__ == "__main__":
    main()
