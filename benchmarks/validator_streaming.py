"""Benchmark the validator Lambda's streaming validators: throughput and peak memory per shape.

    python benchmarks/validator_streaming.py                      # CSV 20 and 200 MiB, all shapes
    python benchmarks/validator_streaming.py --sizes-mb 20,200 --repeats 3 --shape-mb 16
    python benchmarks/validator_streaming.py --sizes-mb '' --shapes json-small-arrays

Two parts, each input written to a temporary directory first:

1. CSV throughput: a realistic CSV of each size is validated by ``validate_csv`` and, for the
   baseline, parsed by plain ``csv.reader``. Target: validator throughput at least half of
   csv.reader's, and peak RSS flat in the object's size.
2. Shapes: inputs built to defeat a validator that holds what it parses (many small arrays,
   deep nesting, one long line, one CSV record spread over many short lines...), each validated
   by the validator and by the standard library's way (``json.loads`` on the document or each
   line, ``csv.reader``). Target: peak RSS within 64 MiB of the baseline whatever the shape.

Every measurement runs in a fresh child process that imports the validator package, records
its RSS high-water mark (``VmHWM``, the ``baseline``), validates the file read through a
botocore StreamingBody exactly as the handler reads get_object's Body, and reports its time and
peak RSS, so one run's memory cannot inflate another's. Not a test: it asserts nothing.
"""

import argparse
import csv
import importlib
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.response import StreamingBody

COMPUTE_DIR = Path(__file__).resolve().parents[1] / "projects" / "compute"
MIB = 1024 * 1024

HEADER = "order_id,created_at,customer,city,amount_eur,note\n"
CUSTOMERS = ("Zoë Müller", "Łukasz Nowak", "José Ñúñez", "李小龍", "Ana", "O'Brien")
CITIES = ('"São Paulo, BR"', "Zürich", "Kraków", '"Washington, D.C."', "東京")
NOTES = ('"said ""hi"", left"', "plain note", '"two\nlines"', "", "⚠ check VAT")


def load_formats() -> ModuleType:
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


def _repeat(path: Path, head: bytes, unit: bytes, tail: bytes, size_bytes: int) -> None:
    """Write head + unit * n + tail, n making the file about ``size_bytes``, in bounded memory."""
    count = max(1, (size_bytes - len(head) - len(tail)) // len(unit))
    block = unit * max(1, min(count, MIB // len(unit)))
    per_block = len(block) // len(unit)
    with path.open("wb") as out:
        out.write(head)
        while count >= per_block:
            out.write(block)
            count -= per_block
        out.write(unit * count)
        out.write(tail)


def _records_unit(index: int) -> bytes:
    return json.dumps(
        {"id": index, "name": f"user-{index}", "tags": ["ä", "ö"], "score": index / 7},
        ensure_ascii=False,
    ).encode()


def write_shape(shape: str, path: Path, size_bytes: int) -> None:
    record = _records_unit(123456)
    deep = b"[" * 500 + b"1" + b"]" * 500
    writers: dict[str, Callable[[], None]] = {
        "json-records": lambda: _repeat(path, b"[", record + b",", record + b"]", size_bytes),
        "json-small-arrays": lambda: _repeat(path, b"[", b"[1],", b"[1]]", size_bytes),
        "json-deep-500": lambda: _repeat(path, b"[", deep + b",", deep + b"]", size_bytes),
        "json-one-long-string": lambda: _repeat(path, b'["', b"x\\u00e9", b'"]', size_bytes),
        "jsonl-records": lambda: _repeat(path, b"", record + b"\n", b"", size_bytes),
        "jsonl-small-arrays": lambda: _repeat(path, b"", b"[[1],[2],[3],[4]]\n", b"", size_bytes),
        # Within the default MAX_JSON_DOCUMENT_BYTES (16 MiB) per line, so VALID.
        "jsonl-one-long-line": lambda: _repeat(
            path, b"[", b"[1],", b"[1]]\n", min(size_bytes, 15 * MIB)
        ),
        "jsonl-blank-lines": lambda: _repeat(path, b"[1]\n", b"\n", b"", size_bytes),
        # csv.reader holds the whole record: stopped at MAX_CSV_RECORD_BYTES by the validator.
        "csv-record-over-many-lines": lambda: _repeat(
            path, b"a,b\n", b'"x\n",', b"1\n", size_bytes
        ),
        "csv-one-long-line": lambda: _repeat(path, b"a,b\n", b"ab,", b"\n", size_bytes),
    }
    writers[shape]()


SHAPES = (
    "json-records",
    "json-small-arrays",
    "json-deep-500",
    "json-one-long-string",
    "jsonl-records",
    "jsonl-small-arrays",
    "jsonl-one-long-line",
    "jsonl-blank-lines",
    "csv-record-over-many-lines",
    "csv-one-long-line",
)


def peak_rss_mib() -> float:
    """This process's RSS high-water mark.

    Linux: VmHWM, which is this process's own; ru_maxrss is carried over from the parent across
    fork and exec, so a child of a large process would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if platform.system() == "Darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MIB


def _reference(kind: str, path: Path) -> tuple[Any, str]:
    """What the standard library does with the file, holding what it parses."""
    if kind == "csv":
        with path.open(encoding="utf-8", newline="") as text:
            rows = sum(1 for _ in csv.reader(text)) - 1  # minus the header
        return rows, "-"
    if kind == "jsonl":
        with path.open(encoding="utf-8") as text:
            return sum(1 for line in text if line.strip() and json.loads(line) is not None), "-"
    document = json.loads(path.read_bytes())
    return (len(document) if isinstance(document, list) else 1), "-"


def run_child(mode: str, kind: str, path: Path) -> dict[str, Any]:
    """In the child process: validate or parse the file once and report the figures."""
    formats = load_formats()
    baseline = peak_rss_mib()
    started = time.perf_counter()
    if mode == "validator":
        validate = {
            "csv": formats.validate_csv,
            "json": formats.validate_json,
            "jsonl": lambda body: formats.validate_json_lines(body, 16 * MIB),
        }[kind]
        with path.open("rb") as raw:
            # The handler's get_object Body is a StreamingBody; wrap the file in one so the
            # validator reads through the same read(n) calls and length check as in Lambda.
            result = validate(StreamingBody(raw, path.stat().st_size))
        records, status = result.record_count, result.status
        reasons = result.reasons[:1]
    else:
        records, status = _reference(kind, path)
        reasons = []
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "seconds": seconds,
        "records": records,
        "status": status,
        "reasons": reasons,
        "baseline_mib": baseline,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure(mode: str, kind: str, path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout)


def best_of(repeats: int, mode: str, kind: str, path: Path) -> dict[str, Any]:
    runs = [measure(mode, kind, path) for _ in range(repeats)]
    return min(runs, key=lambda figures: figures["seconds"])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"python {platform.python_version()} on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} CPUs ({model})"
    )


def csv_throughput(sizes: list[int], repeats: int, workdir: Path) -> None:
    print(
        f"{'size':>8} {'mode':<11} {'seconds':>8} {'MiB/s':>7} {'peak RSS':>9} "
        f"{'baseline':>9} {'rows':>10}"
    )
    peaks: dict[int, float] = {}
    ratios: dict[int, float] = {}
    for size_mib in sizes:
        path = workdir / f"bench-{size_mib}mib.csv"
        expected_rows = write_csv(path, size_mib * MIB)
        actual_mib = path.stat().st_size / MIB
        best = {mode: best_of(repeats, mode, "csv", path) for mode in ("csv.reader", "validator")}
        for mode, figures in best.items():
            assert figures["records"] == expected_rows, figures
            assert figures["status"] in ("VALID", "-"), figures
            print(
                f"{actual_mib:>5.0f}MiB {mode:<11} {figures['seconds']:>8.2f} "
                f"{actual_mib / figures['seconds']:>7.1f} {figures['peak_rss_mib']:>6.1f}MiB "
                f"{figures['baseline_mib']:>6.1f}MiB {figures['records']:>10}"
            )
        peaks[size_mib] = best["validator"]["peak_rss_mib"]
        ratios[size_mib] = best["csv.reader"]["seconds"] / best["validator"]["seconds"]
        path.unlink()
    for size_mib, ratio in ratios.items():
        print(f"{size_mib} MiB: validator throughput = {ratio:.2f} x csv.reader (target >= 0.5)")
    if len(peaks) > 1:
        smallest, largest = min(peaks), max(peaks)
        print(
            f"validator peak RSS {peaks[smallest]:.1f} MiB at {smallest} MiB, "
            f"{peaks[largest]:.1f} MiB at {largest} MiB: "
            f"{peaks[largest] - peaks[smallest]:+.1f} MiB"
        )


def shapes_table(shapes: list[str], size_mib: int, repeats: int, workdir: Path) -> None:
    print(
        f"\n{'shape':<27} {'MiB':>5} {'mode':<10} {'seconds':>8} {'MiB/s':>6} "
        f"{'peak-baseline':>13} {'status':<10} {'records':>9}"
    )
    for shape in shapes:
        path = workdir / f"{shape}.{shape.split('-')[0]}"
        write_shape(shape, path, size_mib * MIB)
        kind = shape.split("-")[0]
        actual_mib = path.stat().st_size / MIB
        for mode in ("validator", "stdlib"):
            figures = best_of(repeats, mode, kind, path)
            growth = figures["peak_rss_mib"] - figures["baseline_mib"]
            print(
                f"{shape:<27} {actual_mib:>5.1f} {mode:<10} {figures['seconds']:>8.2f} "
                f"{actual_mib / figures['seconds']:>6.1f} {growth:>10.1f}MiB "
                f"{figures['status']:<10} {figures['records'] or 0:>9} "
                f"{' '.join(figures['reasons'])[:70]}"
            )
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", default="20,200", help="CSV sizes in MiB ('' for none)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per measurement (best)")
    parser.add_argument("--shapes", default="all", help=f"comma-separated, or all: {SHAPES}")
    parser.add_argument("--shape-mb", type=int, default=16, help="size of each shape's input")
    parser.add_argument("--tmpdir", default=None, help="where to write the generated inputs")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "KIND", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.child:
        mode, kind, path = args.child
        print(json.dumps(run_child(mode, kind, Path(path))))
        return

    print(machine())
    sizes = [int(size) for size in args.sizes_mb.split(",") if size]
    shapes = list(SHAPES) if args.shapes == "all" else [s for s in args.shapes.split(",") if s]
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as workdir:
        if sizes:
            csv_throughput(sizes, args.repeats, Path(workdir))
        if shapes:
            shapes_table(shapes, args.shape_mb, args.repeats, Path(workdir))


if __name__ == "__main__":
    main()
