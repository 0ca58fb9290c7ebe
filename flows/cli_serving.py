"""``predict-server``: verified champions behind HTTP (Open Inference Protocol v2 and MLflow's API).

Runs no flow and imports no Prefect: the server (:mod:`serving.server`) loads every served version
verified through the registry, as ``predict`` does, and serves until SIGTERM or SIGINT. It binds
127.0.0.1 unless ``--host`` says otherwise; a bearer token comes from ``--token-file`` or
``DRIFTLINE_SERVE_TOKEN`` (none: no token asked). Every answer is logged to the store in the
background (:class:`serving.prediction_log.PredictionLog`; ``--no-log`` keeps nothing), and
``--shadow``/``--canary`` name a challenger alias scored beside the champion. Not to be confused
with ``serve``, which serves the Prefect deployments that run the flows.
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
    from serving.prediction_log import PredictionLog
    from serving.routing import parse_route_flag
    from serving.served import DiscardSink
    from serving.server import build, run
    from tasks.workspace import Workspace

    refs = [ModelRef.parse(m) for m in args.model or []]
    challengers = ([parse_route_flag(t, "shadow") for t in args.shadow or []]
                   + [parse_route_flag(t, "canary") for t in args.canary or []])
    limits = Limits(max_body_bytes=_positive("--max-body-bytes", args.max_body_bytes),
                    max_batch_rows=_positive("--max-batch-rows", args.max_batch_rows), token=_token(args.token_file),
                    predict_threads=_positive("--predict-threads", args.predict_threads))
    ws = Workspace.open(args.home)
    ws.settings.data_home.require_existing()
    sink = DiscardSink() if args.no_log else PredictionLog.for_workspace(
        ws, batch_rows=_positive("--log-batch-rows", args.log_batch_rows), flush_seconds=args.log_flush_seconds)
    try:
        serving = build(ws, refs, limits=limits, sink=sink, challengers=challengers)
    except BaseException:
        sink.close()  # its writer thread must not outlive a refused start
        raise
    run(serving, host=args.host, port=args.port)
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
    p.add_argument("--predict-threads", type=int, default=2,
                   help="LightGBM threads for a request of over 4 kB scored while no other is (default 2; "
                        "the answers are the same bit for bit at any count)")
    p.add_argument("--shadow", action="append", metavar="NAME@ALIAS",
                   help="score this challenger on every request of NAME after answering, not returned (logged)")
    p.add_argument("--canary", action="append", metavar="NAME@ALIAS=PERCENT",
                   help="answer PERCENT of NAME's requests (by request id) with this challenger")
    p.add_argument("--no-log", action="store_true",
                   help="keep no record of requests (default: each answer is logged to the store's "
                        "served_predictions group, for monitor --source served and serving compare)")
    p.add_argument("--log-batch-rows", type=int, default=50_000,
                   help="rows per commit of the log (default 50,000; fewer commit every --log-flush-seconds); "
                        "a crash loses at most 4x this many answered rows")
    p.add_argument("--log-flush-seconds", type=float, default=2.0,
                   help="longest an answered row waits before its commit (default 2)")
    p.set_defaults(handler=_predict_server)
