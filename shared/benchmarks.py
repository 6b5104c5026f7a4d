"""``invoke benchmarks``: run every benchmark script and write ``docs/benchmarks.md``.

Each figure in the docs comes from that page: the exact command, its output, and the machine
it ran on (CPU, cores, memory, OS, Python, the pulumi and pulumi-aws versions), with the date.
The scripts print figures and assert nothing: speed and memory are not tested, they are
measured and shown.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from shared.layers import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Benchmark:
    title: str
    script: str
    arguments: tuple[str, ...]
    what: str

    def command(self) -> list[str]:
        return [".venv/bin/python", f"benchmarks/{self.script}", *self.arguments]


BENCHMARKS = (
    Benchmark(
        "`invoke check` against the import floor",
        "check_speed.py",
        ("--runs", "9"),
        "`invoke check` (every layer x environment rendered and checked) against a floor: a "
        "fresh Python importing invoke, pulumi and the pulumi_aws modules the programs use. "
        "Target: check within 1.5x of the floor. Byte-code caching is on for both.",
    ),
    Benchmark(
        "`invoke --list`",
        "tasks_import.py",
        ("--runs", "9"),
        "How long listing the tasks takes in a new process, and that it imports no pulumi, "
        "pulumi_aws, boto3 or moto. Target: under 0.5 s.",
    ),
    Benchmark(
        "The validator: throughput and peak memory per input shape",
        "validator_streaming.py",
        ("--sizes-mb", "20,200", "--repeats", "3", "--shape-mb", "16"),
        "CSV throughput against plain csv.reader (target: at least half), and the peak RSS of "
        "validating inputs built to defeat a validator that holds what it parses (target: "
        "within 64 MiB of the baseline, whatever the shape). docs/validator.md explains them.",
    ),
)


def _first_line_of(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> list[tuple[str, str]]:
    memory_kb = _first_line_of("/proc/meminfo", "MemTotal").split()[0]
    memory = f"{int(memory_kb) / 1024**2:.1f} GiB" if memory_kb.isdigit() else "unknown"

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("CPU", _first_line_of("/proc/cpuinfo", "model name")),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", memory),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("pulumi, pulumi-aws", f"{version('pulumi')}, {version('pulumi-aws')}"),
        ("load average before the run", " ".join(f"{load:.2f}" for load in os.getloadavg())),
    ]


def run(benchmark: Benchmark) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, f"benchmarks/{benchmark.script}", *benchmark.arguments]
    done = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, env=environment, check=False
    )
    output = done.stdout.rstrip()
    if done.returncode != 0:
        output += f"\n(exit {done.returncode})\n{done.stderr.rstrip()}"
    return output


def page(results: list[tuple[Benchmark, str]], when: datetime) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Every speed and memory figure the docs quote, with the command that produced it and "
        "the machine it ran on. Regenerate this page with `.venv/bin/invoke benchmarks` (it "
        "runs each command below; a few minutes). Machines differ, and a busy machine is "
        "slower: compare figures taken on the same machine, and read the targets as targets.",
        "",
        f"Measured {when:%Y-%m-%d %H:%M} UTC on:",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in machine()),
    ]
    for benchmark, output in results:
        lines += [
            "",
            f"## {benchmark.title}",
            "",
            benchmark.what,
            "",
            f"Command: `{shlex.join(benchmark.command())}`",
            "",
            "```text",
            output,
            "```",
        ]
    return "\n".join(lines) + "\n"


def write_page(only: str | None = None) -> Path:
    chosen = [b for b in BENCHMARKS if only is None or b.script.removesuffix(".py") == only]
    results = [(benchmark, run(benchmark)) for benchmark in chosen]
    PAGE.write_text(page(results, datetime.now(UTC)))
    return PAGE
