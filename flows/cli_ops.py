"""The commands that run driftline on a Prefect server: ``serve``, ``watch``, ``deployments``.

``serve`` serves every deployment from this process; ``watch`` announces new drops in
``landing/`` as ``driftline.data.arrived`` events; both need a server (``PREFECT_API_URL``) and
refuse with one line without one, rather than starting Prefect's temporary server, which no
worker or trigger would ever see. ``deployments render`` prints (or writes) deployments/prefect.yaml
from the deployment and trigger tables and imports no Prefect; with ``--declared`` the per-model
schedules are those of the models declared in the data home (what ``deployments/pool.py`` deploys).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from driftline.errors import ConfigError, IntegrityError
from flows.cli_args import non_negative_float, positive_float, positive_int

DEFAULT_YAML = Path("deployments") / "prefect.yaml"
RENDER_FAULT = "deployments.render.staged"  # kill point: the rendering whole on disk, not yet in place


def _require_server() -> str:
    # Read the environment, not Prefect's profile: a profile's URL would be invisible to the user.
    url = os.environ.get("PREFECT_API_URL", "")
    if not url:
        raise ConfigError("PREFECT_API_URL is not set: this command needs a running Prefect server",
                          hint="start the pool (python deployments/pool.py start) and "
                               "eval \"$(python deployments/pool.py env)\"")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return url


def _serve(args: argparse.Namespace) -> int:
    _require_server()
    if args.home is not None:
        # The served runs start in other processes, which receive their settings the way pool
        # workers do: through the environment. The one place the CLI hands --home on that way.
        os.environ["DRIFTLINE_HOME"] = args.home
    # Runs come from this process's runner: poll every second so a triggered run starts in ~1 s.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    from flows.serve import serve_all

    serve_all(limit=args.limit)
    return 0


def _watch(args: argparse.Namespace) -> int:
    _require_server()
    from flows.watch import baseline, watch
    from tasks.workspace import Workspace

    home = Workspace.open(args.home).home
    if args.baseline:
        print(f"recorded {len(baseline(home.landing, home.state))} drop(s) in {home.landing} as announced")
        return 0
    if not args.once:
        # A long-lived watcher pays for Prefect's imports (seconds) now, not on the first drop.
        import prefect.events.clients  # noqa: F401

        print(f"watching {home.landing} every {args.interval:g} s", flush=True)
    announced = watch(home.landing, home.state, interval=args.interval, once=args.once,
                      settle_s=args.settle, max_failures=args.max_failures if args.once else None)
    if args.once:
        print(f"announced {len(announced)} new drop(s) from {home.landing}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from flows.serve import render_prefect_yaml

    if args.declared:
        # The pool's own file: one schedule per declared model (the committed file has the demo's).
        from driftline.settings import load_settings
        from usecases.models import declared_models, models_folder

        overrides = {} if args.home is None else {"home": args.home}
        text = render_prefect_yaml(models=declared_models(models_folder(load_settings(**overrides))))
    else:
        text = render_prefect_yaml()
    target = Path(args.file)
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            raise IntegrityError(f"{target} differs from the deployment and trigger tables",
                                 hint="run python -m flows deployments render --write")
        print(f"{target} is up to date")
    elif args.write:
        # Atomic: the pool deploys this file; a crash must leave the old file or none, never half.
        from driftline.atomic import write_atomic

        write_atomic(target, text.encode("utf-8"), staged=RENDER_FAULT)
        print(f"wrote {target}")
    else:
        print(text, end="")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="serve every deployment from this process (needs PREFECT_API_URL)")
    p.add_argument("--limit", type=positive_int, help="most flow runs at once (default unlimited)")
    p.set_defaults(handler=_serve)
    p = commands.add_parser("watch", help="announce new drops in landing/ as driftline.data.arrived events")
    p.add_argument("--once", action="store_true", help="announce what is there now, then exit")
    p.add_argument("--interval", type=positive_float, default=5.0, help="seconds between scans (default 5)")
    p.add_argument("--settle", type=non_negative_float, default=2.0,
                   help="only announce files unchanged for this many seconds (default 2)")
    p.add_argument("--max-failures", type=positive_int, default=6,
                   help="with --once: give up after this many failed attempts in a row (default 6)")
    p.add_argument("--baseline", action="store_true",
                   help="record the drops now in landing/ as announced without emitting, then exit")
    p.set_defaults(handler=_watch)
    dep = commands.add_parser("deployments", help="render deployments/prefect.yaml from the tables")
    sub = dep.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("render", help="print the rendering (or --write it, or --check the file)")
    p.add_argument("--file", default=str(DEFAULT_YAML), help="target file (default deployments/prefect.yaml)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the file")
    mode.add_argument("--check", action="store_true", help="fail if the file differs from the rendering")
    p.add_argument("--declared", action="store_true",
                   help="schedule the models declared in the data home (default: the demo's model)")
    p.set_defaults(handler=_render)
