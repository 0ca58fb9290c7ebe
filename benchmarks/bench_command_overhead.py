"""A flow command's own overhead: ``python -m flows ingest`` with nothing to ingest, on a small
data home, timed against Prefect's temporary server (the default: one per command) and against
the data home's shared local server (``python -m flows server start``, issue 17), with and without its
warm runner (``flows.warm``: Prefect imported once, a fork per command). The shared
server is started before the timed runs (its start-up, ~10 s, is paid once and printed apart).
Prints the machine state (cores, load average), the median of ``--repeats`` runs of each, every
run's time and the ratio. Run: ``.venv/bin/python benchmarks/bench_command_overhead.py
[--repeats 5]``, or through pytest with ``-m benchmark``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "DRIFTLINE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def _timed(argv: list[str], **extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env={**_env(), **extra}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return elapsed


def measure(repeats: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        cli = [sys.executable, "-m", "flows", "--home", str(Path(tmp) / "home")]
        times: dict[str, list[float]] = {"temporary": [], "shared": [], "shared + warm": []}
        times["temporary"] = [_timed([*cli, "ingest"]) for _ in range(repeats)]
        start_s = _timed([*cli, "server", "start"])
        try:
            _wait_for_runner(Path(tmp) / "home")
            for _ in range(repeats):  # interleaved, so that a change in the machine's load hits both alike
                times["shared"].append(_timed([*cli, "ingest"], DRIFTLINE_WARM="0"))
                times["shared + warm"].append(_timed([*cli, "ingest"]))
        finally:
            _timed([*cli, "server", "stop"])
        times["server start (once)"] = [start_s]
        return times


def _wait_for_runner(home: Path, limit_s: float = 120) -> None:
    log = home / "state" / "server" / "runner.log"
    deadline = time.monotonic() + limit_s
    while not (log.exists() and "ready" in log.read_text()):
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm runner did not get ready within {limit_s:.0f} s ({log})")
        time.sleep(0.2)


def report(times: dict[str, list[float]]) -> float:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"os.cpu_count()={os.cpu_count()} load average={load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"python={sys.version.split()[0]}")
    for name, runs in times.items():
        print(f"{name:>20}: median {statistics.median(runs):6.2f} s  runs {' '.join(f'{t:.2f}' for t in runs)}")
    ratio = statistics.median(times["temporary"]) / statistics.median(times["shared"])
    warm = statistics.median(times["shared"]) / statistics.median(times["shared + warm"])
    print(f"ratio temporary/shared: {ratio:.1f}x; shared/shared + warm: {warm:.2f}x; "
          f"temporary/shared + warm: {ratio * warm:.1f}x")
    return ratio


@pytest.mark.benchmark
def test_the_shared_server_is_faster_than_a_temporary_one() -> None:
    assert report(measure(2)) > 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    report(measure(parser.parse_args().repeats))


if __name__ == "__main__":
    main()
