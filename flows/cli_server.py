"""``python -m flows server start|stop|status``: the local Prefect server shared by the flow
commands of one data home (see :mod:`flows.local_server`). Imports no Prefect: ``status`` and
``stop`` answer at once; ``start`` returns once the server answers its health check."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from driftline.home import DataHome
from flows.cli_args import positive_float
from flows.local_server import IDLE_S, SWITCH, read_state, server_dir, start, stop


def _home(args: argparse.Namespace) -> DataHome:
    return DataHome(Path(args.home or os.environ.get("DRIFTLINE_HOME") or ".driftline"))


def _start(args: argparse.Namespace) -> int:
    home = _home(args)
    state, started = start(home, idle_s=args.idle_minutes * 60)
    print(f"local server {'started' if started else 'already running'}: {state.api_url} (supervisor pid "
          f"{state.pid}); flow commands on {home.root} use it; it stops after "
          f"{state.idle_s / 60:g} min without a command, or with: python -m flows server stop")
    return 0


def _stop(args: argparse.Namespace) -> int:
    state = stop(_home(args))
    print("no local server was running" if state is None else f"local server {state.api_url} stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    home = _home(args)
    state = read_state(home)
    if state is None:
        print(f"no local server for {home.root}: flow commands start Prefect's temporary server "
              f"({SWITCH}=1 starts a shared one on first use)")
        return 1
    up = time.time() - state.started
    print(f"local server {state.api_url}: supervisor pid {state.pid}, up {up / 60:.1f} min, idle timeout "
          f"{state.idle_s / 60:g} min; logs in {server_dir(home)}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("server", help="a local Prefect server shared by this data home's flow commands")
    sub = p.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    s = sub.add_parser("start", help="start it (or report the running one)")
    s.add_argument("--idle-minutes", type=positive_float, default=IDLE_S / 60,
                   help=f"stop after this long without a command (default {IDLE_S / 60:g})")
    s.set_defaults(handler=_start)
    sub.add_parser("stop", help="stop it (and its processes)").set_defaults(handler=_stop)
    sub.add_parser("status", help="is one running? (exit 1 when not)").set_defaults(handler=_status)
