"""The server process: the served set, the watcher and uvicorn, started and stopped in one place.

:func:`build` opens what serving needs from a :class:`tasks.workspace.Workspace`: the served set
(every version verified before the first request; a failure here stops the start, there is no
earlier version to fall back on), each model's feature groups for entity lookups, the columns the
contracts declare not nullable, and the watcher over the alias files and Delta logs. A refused
version is audited (``serve.refused``) the way use cases audit, under the writers' lock. :func:`run`
serves with uvicorn in this process; uvicorn turns SIGTERM and SIGINT into a graceful stop (requests
in flight finish), after which the watcher stops and the sink is closed, so it flushes what it
holds. The ``sink=`` parameter takes the prediction log (``predict-server`` passes
:class:`serving.prediction_log.PredictionLog`; default here: :class:`DiscardSink`), ``challengers=`` the
shadow and canary challengers the app routes to (:class:`serving.routing.Router`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driftline import __version__
from driftline.errors import DriftlineError, InputError, NotFoundError
from serving.app import Limits, ServingApp
from serving.entities import StoredEntities
from serving.models import CHAMPION, ModelRef, ServedSet, Slot
from serving.routing import Router, RouteSpec
from serving.served import DiscardSink, PredictionSink
from serving.watch import Watched, Watcher

if TYPE_CHECKING:
    from tasks.workspace import Workspace


@dataclass(frozen=True)
class Serving:
    """Everything one server process runs: the app, its served set, entity index and watcher."""

    app: ServingApp
    served: ServedSet
    entities: StoredEntities
    watcher: Watcher
    sink: PredictionSink


def audit_refusal(ws: "Workspace") -> Callable[[Slot, int | None, DriftlineError], None]:
    """The refusal recorder: one ``serve.refused`` audit entry, and a line on stderr."""
    from usecases.reconcile_lock import writer_lock

    def record(slot: Slot, version: int | None, error: DriftlineError) -> None:
        print(f"serve: refused {slot.ref.name} v{version} for {slot.ref}: {error}; still serving "
              f"{slot.current.label}", file=sys.stderr, flush=True)
        try:
            with writer_lock(ws.home.state):
                ws.audit.append("serve.refused", f"model:{slot.ref.name}:v{version}", {
                    "alias": str(slot.ref.ref), "serving": slot.current.version, "error": str(error)[:500],
                    "integrity": type(error).__name__}, actor=ws.actor())
        except (DriftlineError, OSError) as exc:  # serving goes on; the line above is the record
            print(f"serve: could not audit the refusal: {exc}", file=sys.stderr, flush=True)
    return record


def default_refs(ws: "Workspace") -> list[ModelRef]:
    """Every declared model that has a champion (the demo's ``churn`` when none is declared); a
    declared model without one yet is skipped with a line, and none at all is an error."""
    from usecases.models import declared_models, models_folder

    names = [spec.name for spec in declared_models(models_folder(ws.settings))]
    with_champion = [n for n in names if n in ws.registry.models() and ws.registry.alias(n, CHAMPION) is not None]
    for name in names:
        if name not in with_champion:
            print(f"predict-server: {name} has no champion yet; not served", file=sys.stderr, flush=True)
    if not with_champion:
        raise NotFoundError(f"no declared model has a champion to serve (declared: {', '.join(names)})",
                            hint="train and promote a model first, or pass --model NAME@VERSION")
    return [ModelRef(n) for n in with_champion]


Columns = dict[str, tuple[str, ...]]


def _model_groups(ws: "Workspace", names: Sequence[str]) -> tuple[Columns, Columns]:
    """Per model: its feature groups, and the feature columns its contracts declare not nullable."""
    from tasks.workspace import Workspace as W

    groups, required = {}, {}
    for name in names:
        spec_ws = W.for_model(ws.settings.home, name)
        feature_groups = tuple(spec_ws.settings.feature_groups)
        groups[name] = feature_groups
        required[name] = tuple(c.name for g in feature_groups for c in spec_ws.contracts[g].columns
                               if not c.nullable and c.name in spec_ws.contracts[g].feature_columns)
    return groups, required


def build(ws: "Workspace", refs: Sequence[ModelRef], *, limits: Limits, sink: PredictionSink | None = None,
          interval: float = 0.5, challengers: Sequence[RouteSpec] = ()) -> Serving:
    """The served set, entity index, app and watcher of one server (nothing listens yet). Each
    challenger (``--shadow``/``--canary``) is served too, verified and watched like its champion."""
    refs = list(refs) or default_refs(ws)
    champions = {name: str(next(r.ref for r in refs if r.name == name)) for name in dict.fromkeys(r.name for r in refs)}
    router = Router(champions, challengers) if challengers else None
    refs += [ModelRef(c.model, c.alias) for c in challengers if ModelRef(c.model, c.alias) not in refs]
    served = ServedSet(ws, refs, on_refusal=audit_refusal(ws))
    groups, required = _model_groups(ws, served.names())
    entities = StoredEntities(ws.store, ws.contracts, groups)
    sink = sink if sink is not None else DiscardSink()
    app = ServingApp(served, limits=limits, sink=sink, entities=entities, required=required, version=__version__,
                     router=router)
    alias_files = {ws.registry.root / r.name / "aliases.json": r.name for r in refs if not r.pinned}
    watched = [Watched(path, functools.partial(served.refresh, name)) for path, name in alias_files.items()]
    watched += [Watched(log, functools.partial(entities.reload_group, log.parent.name)) for log in entities.logs()]
    return Serving(app=app, served=served, entities=entities, watcher=Watcher(watched, interval=interval), sink=sink)


def _uvicorn_server(config: object) -> object:
    """uvicorn's server, stopping gracefully on SIGTERM/SIGINT without re-raising the signal after
    (uvicorn does, which would end the process before the sink is flushed)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server(config)  # type: ignore[arg-type]


def run(serving: Serving, *, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; then stop the watcher and close (flush) the sink."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise InputError(f"--port {port} is not a TCP port", hint="use 1-65535 (0: any free port)")
    # The CLI gives SIGPIPE its default action (a `| head` reader going away ends a command quietly);
    # a server must not die when one client hangs up mid-answer: ignored, the write is an EPIPE on
    # that connection alone (wrk's closing connections killed the process, tests/serving/test_client_gone.py).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # httptools (C, uvicorn's recommended parser) took ~0.1-0.2 ms less CPU a request than the pure-Python
    # h11; h11 only when an environment lacks it. uvloop measured no clear gain: asyncio, whatever is installed.
    http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    config = uvicorn.Config(serving.app.starlette(), host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=10, http=http, loop="asyncio")
    server = _uvicorn_server(config)
    # What start-up made (the imports, the verified models, the entity features) lives as long as the
    # process: frozen out of the collector, a full collection no longer walks it. A 1,000-row JSON body
    # makes some 20,000 objects, so full collections come every few dozen requests, and each walked
    # that heap: p99 at 1,000 rows, one client, 71 ms before, 9 ms after (p50 unchanged, 6.3 ms).
    gc.collect()
    gc.freeze()
    serving.watcher.start()
    labels = ", ".join(f"{s.ref} = {s.current.label}" for s in serving.served.slots)
    print(f"predict-server: serving {labels} on http://{host}:{port} (OIP v2 under /v2, MLflow at /invocations)",
          flush=True)
    try:
        server.run()  # type: ignore[attr-defined]
    except SystemExit:  # uvicorn exits when it cannot bind: say so as a user error
        raise InputError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)",
                         hint="pick another --port or --host") from None
    finally:
        serving.watcher.stop()
        serving.sink.close()
    print("predict-server: stopped (requests in flight were answered; the prediction sink is flushed)", flush=True)
