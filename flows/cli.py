"""``python -m flows``: driftline's command line.

Two kinds of command live here. Commands that run flows (``demo``, ``ingest``, ``train``,
``monitor``, ``score``, ``run``) import Prefect and run every flow of the command in this one
process, so Prefect's temporary server starts once. Commands that run no flow (``registry``,
``audit``, ``keys``, ``--help``) never import Prefect and answer at once.

This module is the error edge: a :class:`DriftlineError` becomes one line on stderr and a
non-zero exit (3 for an integrity failure, 2 for anything else the user can fix); anything
unexpected becomes one line too, with the traceback saved under ``state/`` for a bug report.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from driftline.errors import DriftlineError, IntegrityError

EXIT_USER, EXIT_INTEGRITY, EXIT_INTERNAL = 2, 3, 70


def _parser() -> argparse.ArgumentParser:
    from flows import cli_admin, cli_ops, cli_runs

    parser = argparse.ArgumentParser(
        prog="python -m flows",
        description="driftline: continuous training with a signed registry and an audit trail. "
                    "Works on the data home DRIFTLINE_HOME (default ./.driftline).")
    parser.add_argument("--home", help="data home (overrides DRIFTLINE_HOME)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show Prefect's run logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cli_runs.add_commands(commands)
    cli_admin.add_commands(commands)
    cli_ops.add_commands(commands)
    return parser


def _report_internal(exc: BaseException) -> str:
    """Save the traceback where a bug report can pick it up; return where."""
    home = Path(os.environ.get("DRIFTLINE_HOME", ".driftline"))
    target = home / "state" / "last-error.txt"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{datetime.now(timezone.utc).isoformat()}\n{traceback.format_exc()}", encoding="utf-8")
        return str(target)
    except OSError:
        return "(could not be saved)"


def main(argv: Sequence[str] | None = None) -> int:
    # Die quietly when the reader of our output goes away (`python -m flows registry list | head`).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["DRIFTLINE_HOME"] = args.home
    try:
        return int(args.handler(args) or 0)
    except IntegrityError as exc:
        print(f"integrity failure: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except DriftlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the edge: never show a traceback as the interface
        where = _report_internal(exc)
        print(f"internal error: {type(exc).__name__}: {exc} (traceback saved to {where})", file=sys.stderr)
        return EXIT_INTERNAL
