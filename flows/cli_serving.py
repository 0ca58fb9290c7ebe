"""``predict-server``: verified champions behind HTTP (Open Inference Protocol v2 and MLflow's API).

Runs no flow and imports no Prefect: the server (:mod:`serving.server`) loads every served version
verified through the registry, as ``predict`` does, and serves until SIGTERM or SIGINT. It binds
127.0.0.1 unless ``--host`` says otherwise; a bearer token comes from ``--token-file`` or
``DRIFTLINE_SERVE_TOKEN`` (none: no token asked). Not to be confused with ``serve``, which serves
the Prefect deployments that run the flows.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _token(path: str | None) -> str | None:
    from driftline.errors import InputError

    if path is None:
        return os.environ.get("DRIFTLINE_SERVE_TOKEN") or None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the token file {path}: {exc}",
                         hint="pass a readable file holding the token") from None
    if not token:
        raise InputError(f"the token file {path} is empty", hint="write the bearer token into it")
    return token


def _positive(flag: str, value: int) -> int:
    from driftline.errors import InputError

    if value < 1:
        raise InputError(f"{flag} {value} must be at least 1", hint=f"e.g. {flag} 1000")
    return value


def _predict_server(args: argparse.Namespace) -> int:
    from serving.app import Limits
    from serving.models import ModelRef
    from serving.server import build, run
    from tasks.workspace import Workspace

    refs = [ModelRef.parse(m) for m in args.model or []]
    limits = Limits(max_body_bytes=_positive("--max-body-bytes", args.max_body_bytes),
                    max_batch_rows=_positive("--max-batch-rows", args.max_batch_rows), token=_token(args.token_file))
    ws = Workspace.open(args.home)
    ws.settings.data_home.require_existing()
    run(build(ws, refs, limits=limits), host=args.host, port=args.port)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("predict-server", help="serve verified champions over HTTP (OIP v2 and MLflow "
                                                   "/invocations); not `serve`, which runs Prefect deployments")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--model", action="append", metavar="NAME[@ALIAS|@VERSION]",
                   help="a model to serve, repeatable (default: every declared model's champion)")
    p.add_argument("--token-file", help="file holding a bearer token clients must send "
                                        "(or DRIFTLINE_SERVE_TOKEN); health probes need none")
    p.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, help="largest request body (413 above)")
    p.add_argument("--max-batch-rows", type=int, default=10_000, help="most rows in one request (413 above)")
    p.set_defaults(handler=_predict_server)
