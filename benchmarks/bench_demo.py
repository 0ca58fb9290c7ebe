"""Cold `python -m flows demo` wall time against the issue's 60-second budget on this machine.

The baseline, measured in the same run, is the cost Prefect alone imposes on any local command:
a fresh process that runs one empty flow (temporary server start included). The ratio shows how
much of the demo is driftline's own work. Run: `.venv/bin/python benchmarks/bench_demo.py`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMPTY_FLOW = "from prefect import flow\n@flow\ndef empty():\n    return 1\nempty()\n"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    baseline, _ = timed([sys.executable, "-c", EMPTY_FLOW], env)
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, result = timed([sys.executable, "-m", "flows", "--home", f"{tmp}/home", "demo"], env)
            if result.returncode != 0:
                print(result.stdout, result.stderr, file=sys.stderr)
                return 1
            runs.append(seconds)
    best = min(runs)
    print(f"cores: {os.cpu_count()}")
    print(f"baseline (one empty Prefect flow, cold process): {baseline:.1f} s")
    verdict = "met" if best < 60 else "MISSED"
    print(f"demo, cold process: {', '.join(f'{r:.1f}' for r in runs)} s (budget 60 s: {verdict})")
    print(f"ratio demo / baseline: {best / baseline:.2f}")
    return 0 if best < 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
