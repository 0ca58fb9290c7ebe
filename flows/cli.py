"""``python -m flows``: driftline's command line.

Two kinds of command live here. Commands that run flows (``demo``, ``ingest``, ``train``,
``monitor``, ``score``, ``run``) import Prefect and run every flow of the command in this one
process, so Prefect's temporary server starts once. Commands that run no flow (``registry``,
``audit``, ``keys``, ``contract``, ``--help``) never import Prefect and answer at once.

The data home comes from ``--home`` (before or after the command; the last one given wins, see
:mod:`flows.cli_help`) or ``DRIFTLINE_HOME``, and is passed down as ``args.home``: the command
line writes no ``DRIFTLINE_*`` variable (``serve`` alone hands ``--home`` on through the environment,
to the runs it starts in other processes).

This module is the error edge: a :class:`DriftlineError` becomes one line on stderr and a
non-zero exit (3 for an integrity failure, 2 for anything else the user can fix); anything
unexpected becomes one line too, with the traceback saved under ``state/`` for a bug report.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from driftline.clock import now_text
from driftline.errors import ConfigError, DriftlineError, IntegrityError
from driftline.home import DataHome

EXIT_USER, EXIT_INTEGRITY, EXIT_INTERNAL = 2, 3, 70


def _parser() -> argparse.ArgumentParser:
    from flows import cli_admin, cli_contract, cli_ops, cli_predict, cli_runs, cli_server, cli_serving
    from flows.cli_args import OneLineParser
    from flows.cli_help import HOME_HELP, finish

    parser = OneLineParser(
        prog="python -m flows",
        description="driftline: continuous training with a signed registry and an audit trail. "
                    "Works on the data home DRIFTLINE_HOME (default ./.driftline).")
    parser.add_argument("--home", help=HOME_HELP)
    parser.add_argument("--verbose", "-v", action="store_true", help="show Prefect's run logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cli_runs.add_commands(commands)
    cli_admin.add_commands(commands)
    cli_ops.add_commands(commands)
    cli_contract.add_commands(commands)
    cli_predict.add_commands(commands)
    cli_serving.add_commands(commands)
    cli_server.add_commands(commands)
    return finish(parser)


def _data_home(flag: str | None) -> DataHome:
    """The data home the command works on, for the error edge (it opens no settings)."""
    return DataHome(Path(flag or os.environ.get("DRIFTLINE_HOME") or ".driftline"))


def _report_internal(exc: BaseException, flag: str | None) -> str:
    """Save the traceback where a bug report can pick it up; return where."""
    home = _data_home(flag)
    # Never create a data home (or write into a foreign folder) to report an error.
    folder = home.state if home.is_data_home() else Path(tempfile.gettempdir())
    target = folder / ("last-error.txt" if home.is_data_home() else "driftline-last-error.txt")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{now_text()}\n{traceback.format_exc()}", encoding="utf-8")
        return str(target)
    except OSError:
        return "(could not be saved)"


def _check_home(flag: str | None) -> None:
    """``--home`` wins over DRIFTLINE_HOME; an empty one is refused, never read as the current folder."""
    if flag is not None:
        if not flag.strip():
            raise ConfigError("--home is empty", hint="give it a folder, e.g. --home ./.driftline")
    elif "DRIFTLINE_HOME" in os.environ and not os.environ["DRIFTLINE_HOME"].strip():
        # Path("") is the current folder: in the repository root that made registry/ the registry.
        raise ConfigError("DRIFTLINE_HOME is empty; set it to a folder (e.g. ./.driftline) or unset it",
                          hint="export DRIFTLINE_HOME=/path/to/home, or unset DRIFTLINE_HOME")


def main(argv: Sequence[str] | None = None) -> int:
    # Die quietly when the reader of our output goes away (`python -m flows registry list | head`).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check_home(args.home)
        return int(args.handler(args) or 0)
    except IntegrityError as exc:
        print(f"integrity failure: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except DriftlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER
    except OSError as exc:  # a file of the data home we may not read or write: the user's to fix
        if not _is_users_to_fix(exc, args.home):
            return _internal(exc, args.home)
        print(f"error: cannot use {exc.filename}: {(exc.strerror or str(exc)).lower()} "
              f"(fix its permissions, or point --home at another data home)", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the edge: never show a traceback as the interface
        return _internal(exc, args.home)


def _internal(exc: BaseException, home: str | None) -> int:
    where = _report_internal(exc, home)
    print(f"internal error: {type(exc).__name__}: {exc} (traceback saved to {where})", file=sys.stderr)
    return EXIT_INTERNAL


def _is_users_to_fix(exc: OSError, home: str | None) -> bool:
    """A permission error anywhere, or any OS error on a file inside the data home, names a path
    the user can fix; other OS errors are ours."""
    if exc.filename is None:
        return False
    if isinstance(exc, PermissionError):
        return True
    return Path(os.fsdecode(exc.filename)).resolve().is_relative_to(_data_home(home).root)
