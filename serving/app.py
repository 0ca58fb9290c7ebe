"""The HTTP application: routes of both protocols, the bearer token, the size and batch limits.

Starlette rather than FastAPI: the two protocols' bodies are fixed by their specifications and
decoded by hand (:mod:`serving.oip`, :mod:`serving.mlflow_api`) to answer with their own error
shapes, so FastAPI's model validation and OpenAPI generation would be weight on every request
(and another layer between a malformed body and the message naming its column).

Every scoring request reads its slot's served version once (:attr:`serving.models.Slot.current`),
so a promotion swapping it mid-request changes nothing for that request; the response names the
version (OIP ``model_version``; the :data:`serving.mlflow_api.VERSION_HEADER` header on both), and
the request's :class:`serving.served.ServedBatch` goes to the sink after the response is sent.
With a :class:`serving.routing.Router`, a request to a model (not to a version) is scored by the
routes it plans: a canary's share is answered by the challenger, and a shadow challenger scores
every request after the response is sent (no added latency), its batch logged with ``returned``
false, for ``python -m flows serving compare``.
Health probes (``/v2/health/*``, ``/ping``, ``/health``) need no token; everything else does when
the server has one. No part of a request ever names a file: models come from the served set, rows
from the body or the in-memory entity index.
"""

from __future__ import annotations

import hmac
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import polars as pl
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from driftline.clock import utc_now
from driftline.errors import DriftlineError, NotFoundError
from serving import mlflow_api, oip
from serving.models import CHAMPION, ServedSet, Slot
from serving.routing import Route as Planned
from serving.routing import Router
from serving.scoring import RequestRefused, Scored, request_frame, score
from serving.served import DiscardSink, PredictionSink, Role, ServedBatch

# A body this small (one or a few rows) is scored on the event loop, not in the thread pool (measured).
INLINE_BODY_BYTES = 4096
MODEL_HEADER = "X-Driftline-Model"  # /invocations: which served model, when more than one is served


@dataclass(frozen=True)
class Limits:
    """What one request may hold, and the token it must carry (None: no token asked). ``predict_threads``:
    LightGBM threads for a large body scored while no other is (its predict is ~2/3 of a 1,000-row
    request's CPU; rows are scored one by one, so the numbers do not depend on the count)."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_batch_rows: int = 10_000
    token: str | None = None
    predict_threads: int = 1


class EntityIndex(Protocol):
    """The stored latest features of a model's entities (:mod:`serving.entities`)."""

    def keys(self, model: str) -> tuple[str, ...]: ...

    def lookup(self, model: str, keys: pl.DataFrame) -> pl.DataFrame: ...


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str, *, mlflow: bool = False) -> Response:
    if mlflow and status == 415:
        return Response(message, status_code=415, media_type="text/plain")
    if mlflow:
        return Response(mlflow_api.error_body(message, status), status_code=status, media_type="application/json")
    return JSON({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_big = declared.isdigit() and int(declared) > limit
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            too_big = True
        if not too_big:
            chunks.append(chunk)
    # Read to the end (discarding past the limit) so the client is not cut off mid-send.
    if too_big:
        raise RequestRefused(f"the body holds {max(size, int(declared or 0))} bytes, over this server's limit "
                             f"of {limit}", status=413, hint="send fewer rows per request, or raise --max-body-bytes")
    return b"".join(chunks)


class ServingApp:
    """The routes over one served set; :meth:`starlette` builds the ASGI application."""

    def __init__(self, served: ServedSet, *, limits: Limits = Limits(), sink: PredictionSink | None = None,
                 entities: EntityIndex | None = None, required: Mapping[str, Sequence[str]] | None = None,
                 version: str = "0", router: Router | None = None) -> None:
        self.served = served
        self.limits = limits
        self.sink: PredictionSink = sink if sink is not None else DiscardSink()
        self.entities = entities
        self.required = dict(required or {})
        self.version = version
        self.router = router
        self._scoring = 0  # large bodies in the thread pool now; read and written on the event loop only
        self._alone_threads = max(1, limits.predict_threads)

    # ------------------------------------------------------------------ plumbing
    def _authorized(self, request: Request) -> bool:
        if self.limits.token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.limits.token.encode())

    def _guarded(self, handler: Callable[[Request], Awaitable[Response]], *, mlflow: bool = False,
                 open_: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not open_ and not self._authorized(request):
                response = _error(401, "a bearer token is required (Authorization: Bearer TOKEN)", mlflow=mlflow)
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            try:
                return await handler(request)
            except RequestRefused as exc:
                return _error(exc.status, str(exc), mlflow=mlflow)
            except NotFoundError as exc:
                return _error(404, str(exc), mlflow=mlflow)
            except DriftlineError as exc:
                return _error(400, str(exc), mlflow=mlflow)
            except Exception as exc:  # noqa: BLE001 - the edge: a traceback is never the answer
                print(f"serve: internal error on {request.url.path}: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
                return _error(500, f"internal error: {type(exc).__name__}", mlflow=mlflow)
        return endpoint

    def _frame(self, slot: Slot, columns: Mapping[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """The rows to score, and the entity keys when the request gave only keys."""
        frame = request_frame(columns, max_rows=self.limits.max_batch_rows)
        keys = self.entities.keys(slot.ref.name) if self.entities is not None else ()
        if keys and set(frame.columns) == set(keys):
            return self.entities.lookup(slot.ref.name, frame.select(keys)), frame.select(keys)  # type: ignore[union-attr]
        return frame, None

    def _score(self, slot: Slot, columns: Mapping[str, Any],
               threads: int | None = None) -> tuple[Scored, pl.DataFrame | None]:
        served = slot.current  # read once: the version this whole request is scored by
        frame, entities = self._frame(slot, columns)
        # Stored features are scored as `score` scores them: a value the group's TTL expired is null
        # there, and the model reads it as missing. Only sent rows must fill the non-nullable columns.
        required = self.required.get(slot.ref.name, ()) if entities is None else ()
        return score(served, frame, required=required, threads=threads), entities

    async def _scored(self, slot: Slot, columns: Mapping[str, Any], size: int) -> tuple[Scored, pl.DataFrame | None]:
        """A small body scored on the event loop; a larger one in the thread pool, so that a long
        request does not hold up the others. Handing work to a thread and back costs ~0.2 ms of CPU
        (waking the loop from the thread), which a single row notices. A large body that no other is
        being scored beside gets ``Limits.predict_threads`` for LightGBM (one client's 1,000 rows wait on
        predict alone); beside another it keeps one, so that concurrent requests do not oversubscribe
        the cores."""
        if size <= INLINE_BODY_BYTES:
            return self._score(slot, columns)
        threads = self._alone_threads if self._scoring == 0 and self._alone_threads > 1 else None
        self._scoring += 1
        try:
            return await run_in_threadpool(self._score, slot, columns, threads)
        finally:
            self._scoring -= 1

    def _routes(self, slot: Slot, request_id: str, by_version: bool) -> tuple[Slot, Role, list[Slot]]:
        """The slot that answers, its role, and the shadow slots scored after the answer."""
        default: Role = "champion" if slot.ref.ref == CHAMPION else "pinned"
        if self.router is None or by_version or self.router.challenger(slot.ref.name) is None:
            return slot, default, []
        planned: tuple[Planned, ...] = self.router.plan(slot.ref.name, request_id)
        answer = next(r for r in planned if r.returned)
        shadows = [self.served.by_ref(r.model, r.ref) for r in planned if not r.returned]
        return self.served.by_ref(answer.model, answer.ref), answer.role, shadows

    def _handoff(self, scored: Scored, entities: pl.DataFrame | None, request_id: str, received: Any,
                 protocol: str, role: Role, shadows: Sequence[Slot], columns: Mapping[str, Any]) -> BackgroundTask:
        return BackgroundTask(self._after, self._batch(scored, entities, request_id, received, protocol, role, True),
                              shadows, columns, request_id, received, protocol)

    @staticmethod
    def _batch(scored: Scored, entities: pl.DataFrame | None, request_id: str, received: Any, protocol: str,
               role: Role, returned: bool) -> ServedBatch:
        served = scored.served
        return ServedBatch(model=served.name, version=served.version, alias=served.alias, role=role,
                           returned=returned, request_id=request_id, received_at=received,
                           protocol=protocol,  # type: ignore[arg-type]
                           inputs=scored.inputs, outputs=scored.outputs, entities=entities)

    def _after(self, answered: ServedBatch, shadows: Sequence[Slot], columns: Mapping[str, Any], request_id: str,
               received: Any, protocol: str) -> None:
        """After the response: log the answer, then score and log each shadow on the same rows."""
        self._submit(answered)
        for shadow in shadows:
            try:
                scored, entities = self._score(shadow, columns)
            except Exception as exc:  # noqa: BLE001 - a shadow never fails what was answered
                print(f"serve: shadow {shadow.ref} could not score request {request_id}: {type(exc).__name__}: "
                      f"{exc}", file=sys.stderr, flush=True)
                continue
            self._submit(self._batch(scored, entities, request_id, received, protocol, "challenger", False))

    def _submit(self, batch: ServedBatch) -> None:
        try:
            self.sink.submit(batch)
        except Exception as exc:  # noqa: BLE001 - a sink failure never fails an answered request
            print(f"serve: the prediction sink refused a batch: {type(exc).__name__}: {exc}", file=sys.stderr,
                  flush=True)

    # --------------------------------------------------------------- health, OIP
    async def live(self, request: Request) -> Response:
        return JSON({"live": True})

    async def ready(self, request: Request) -> Response:
        ready = self.served.ready
        return JSON({"ready": ready, "models": self.served.status()}, status_code=200 if ready else 503)

    async def metadata(self, request: Request) -> Response:
        return JSON(oip.server_metadata(self.version, {str(s.ref): s.current.label for s in self.served.slots}))

    def _slot(self, request: Request) -> Slot:
        raw = request.path_params.get("version")
        if raw is not None and not str(raw).isdigit():
            raise NotFoundError(f"version {raw!r} is not a version number", hint="use /v2/models/NAME/versions/3")
        return self.served.slot(request.path_params["name"], int(raw) if raw is not None else None)

    async def model_metadata(self, request: Request) -> Response:
        slot = self._slot(request)
        keys = self.entities.keys(slot.ref.name) if self.entities is not None else ()
        response = JSON(oip.model_metadata(slot.current, keys))
        response.headers[mlflow_api.VERSION_HEADER] = slot.current.label
        return response

    async def model_ready(self, request: Request) -> Response:
        slot = self._slot(request)
        body: dict[str, Any] = {"name": slot.ref.name, "ready": slot.refusal is None,
                                "model_version": str(slot.current.version)}
        if slot.refusal is not None:
            body["refused"] = {"version": slot.refusal.version, "error": slot.refusal.error}
        return JSON(body, status_code=200 if slot.refusal is None else 503)

    async def infer(self, request: Request) -> Response:
        received = utc_now()
        slot = self._slot(request)
        raw = await _body(request, self.limits.max_body_bytes)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RequestRefused(f"the body is not valid JSON: {exc}", status=400,
                                 hint="send an infer request as a JSON object") from None
        given_id, columns, wanted = oip.infer_columns(body)
        request_id = given_id if given_id is not None else str(uuid.uuid4())
        slot, role, shadows = self._routes(slot, request_id, "version" in request.path_params)
        scored, entities = await self._scored(slot, columns, len(raw))
        answer = oip.infer_response(scored, request_id, wanted)
        response = JSON(answer, background=self._handoff(scored, entities, request_id, received, "v2", role,
                                                         shadows, columns))
        response.headers[mlflow_api.VERSION_HEADER] = scored.served.label
        return response

    # ------------------------------------------------------------------- MLflow
    async def ping(self, request: Request) -> Response:
        return Response("\n", media_type="application/json")

    async def invocations(self, request: Request) -> Response:
        received = utc_now()
        name = request.headers.get(MODEL_HEADER)
        slot = self.served.slot(name) if name else self.served.slots[0]
        mime = mlflow_api.content_type(request.headers.get("content-type"))
        raw = await _body(request, self.limits.max_body_bytes)
        columns = mlflow_api.csv_columns(raw) if mime == mlflow_api.CSV else mlflow_api.json_columns(raw)
        if isinstance(columns, list):
            columns = mlflow_api.positional_columns(columns, slot.current.model.schema.features)
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        slot, role, shadows = self._routes(slot, request_id, False)
        scored, entities = await self._scored(slot, columns, len(raw))
        response = Response(mlflow_api.predictions_body(scored), media_type="application/json",
                            background=self._handoff(scored, entities, request_id, received, "mlflow", role,
                                                     shadows, columns))
        response.headers[mlflow_api.VERSION_HEADER] = scored.served.label
        return response

    def starlette(self) -> Starlette:
        g = self._guarded
        routes = [
            Route("/v2/health/live", g(self.live, open_=True)),
            Route("/v2/health/ready", g(self.ready, open_=True)),
            Route("/v2", g(self.metadata)),
            Route("/v2/models/{name}", g(self.model_metadata)),
            Route("/v2/models/{name}/ready", g(self.model_ready)),
            Route("/v2/models/{name}/infer", g(self.infer), methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}", g(self.model_metadata)),
            Route("/v2/models/{name}/versions/{version}/ready", g(self.model_ready)),
            Route("/v2/models/{name}/versions/{version}/infer", g(self.infer), methods=["POST"]),
            Route("/invocations", g(self.invocations, mlflow=True), methods=["POST"]),
            Route("/ping", g(self.ping, open_=True)),
            Route("/health", g(self.ping, open_=True)),
        ]
        return Starlette(routes=routes)
