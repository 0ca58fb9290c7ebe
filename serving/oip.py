"""The Open Inference Protocol v2 (KServe V2) REST bodies, for tabular models in the ``pd`` content type.

Pure functions between JSON values and the server's types: :func:`infer_columns` reads an infer
request (one input per column; ``parameters.content_type`` "pd" at the request or the input level,
or none: a tabular model has no other reading), :func:`infer_response` writes the answer (one output
per prediction column, the request ``id`` echoed, ``model_version`` naming the version that
answered), :func:`model_metadata` lists the inputs with the OIP datatypes of the model's schema.
An input's ``shape`` of ``[n]`` or ``[n, 1]`` is one column; its data may be flat or one value per
inner list. What the protocol leaves open, documented here: ready endpoints answer 200 when every
served alias resolves to the version served and 503 (with details) while a refused version stands.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import polars as pl

from driftline.errors import InputError
from serving.models import ServedModel
from serving.scoring import Scored, plain

PD = "pd"
_DATATYPES = {pl.Float64: "FP64", pl.Float32: "FP32", pl.Int64: "INT64", pl.Int32: "INT32",
              pl.Boolean: "BOOL", pl.String: "BYTES"}


def _content_type(parameters: Any, where: str) -> str | None:
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise InputError(f"{where} parameters must be an object", hint='e.g. "parameters": {"content_type": "pd"}')
    value = parameters.get("content_type")
    if value is not None and value != PD:
        raise InputError(f"{where} content_type {value!r} is not served here; tabular models take 'pd' "
                         "(one input per column)", hint='set "parameters": {"content_type": "pd"}, or leave it out')
    return value


def _flat(name: str, data: Any) -> Any:
    # [[1], [2]] (shape [n, 1]) is the same column as [1, 2].
    if isinstance(data, list) and data and all(isinstance(v, list) and len(v) == 1 for v in data):
        return [v[0] for v in data]
    return data


def infer_columns(body: Any) -> tuple[str | None, dict[str, Any], list[str] | None]:
    """(request id, columns by input name, the output names asked for or None) of an infer request."""
    if not isinstance(body, dict):
        raise InputError("an infer request is a JSON object with an \"inputs\" list",
                         hint='e.g. {"inputs": [{"name": "sessions", "shape": [1], "datatype": "FP64", "data": [3]}]}')
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InputError("the request \"id\" must be a string", hint='e.g. "id": "42"')
    _content_type(body.get("parameters"), "the request's")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InputError("the infer request has no \"inputs\" list", hint="send one input per feature column")
    columns: dict[str, Any] = {}
    for i, item in enumerate(inputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "data" not in item:
            raise InputError(f"input {i} lacks a \"name\" or \"data\"",
                             hint='each input is {"name": COLUMN, "shape": [n], "datatype": ..., "data": [...]}')
        name = item["name"]
        _content_type(item.get("parameters"), f"input {name!r}'s")
        if name in columns:
            raise InputError(f"input {name!r} is given twice", hint="send each column once")
        columns[name] = _flat(name, item["data"])
    outputs = body.get("outputs")
    wanted = None
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                    for o in outputs):
            raise InputError("\"outputs\" must be a list of objects with a \"name\"", hint='e.g. [{"name": "score"}]')
        wanted = [o["name"] for o in outputs]
    return request_id, columns, wanted


def _datatype(dtype: pl.DataType) -> str:
    return _DATATYPES.get(type(dtype), "BYTES")


def infer_response(scored: Scored, request_id: str | None, wanted: list[str] | None) -> dict[str, Any]:
    """The infer response: one output per prediction column (those asked for, in that order)."""
    frame = scored.outputs
    names = wanted if wanted is not None else frame.columns
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise InputError(f"output {unknown[0]!r} is not produced by {scored.served.label}",
                         hint=f"ask for any of {frame.columns}")
    outputs = [{"name": n, "shape": [frame.height], "datatype": _datatype(frame[n].dtype),
                "data": plain(frame[n].to_numpy()) if frame[n].dtype.is_numeric() else frame[n].to_list()}
               for n in names]
    return {"model_name": scored.served.name, "model_version": str(scored.served.version),
            "id": request_id if request_id is not None else str(uuid.uuid4()),
            "parameters": {"content_type": PD}, "outputs": outputs}


def output_names(served: ServedModel) -> list[tuple[str, str]]:
    """The prediction columns the model answers with, and their datatypes."""
    schema = served.model.schema
    if schema.task == "multiclass":
        classes = list(schema.classes)
        kind = "BYTES" if not all(isinstance(c, int) for c in classes) else "INT64"
        return [("predicted_class", kind), *((f"proba_{c}", "FP64") for c in classes)]
    if schema.task == "binary":
        if served.threshold is None:
            return [("score", "FP64")]
        if not schema.names_decisions:
            return [("score", "FP64"), ("decision", "INT64")]
        kind = ("BOOL" if all(isinstance(c, bool) for c in schema.classes)
                else "INT64" if all(isinstance(c, int) for c in schema.classes) else "BYTES")
        return [("score", "FP64"), ("decision", "INT64"), ("predicted_class", kind)]
    return [("prediction", "FP64")]


def model_metadata(served: ServedModel, entity_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """GET /v2/models/{name}[/versions/{v}]: the inputs with their datatypes, the outputs."""
    inputs = [{"name": n, "datatype": t, "shape": [-1]} for n, t in served.input_datatypes().items()]
    parameters: dict[str, Any] = {"content_type": PD, "task": served.model.task}
    if served.alias:
        parameters["alias"] = served.alias
    if entity_keys:
        parameters["entity_keys"] = list(entity_keys)  # inputs named by these alone: the stored features score
    return {"name": served.name, "versions": [str(served.version)], "platform": "lightgbm",
            "inputs": inputs, "outputs": [{"name": n, "datatype": t, "shape": [-1]} for n, t in output_names(served)],
            "parameters": parameters}


def server_metadata(version: str, models: Mapping[str, str]) -> dict[str, Any]:
    """GET /v2: the server's name, version and extensions (none)."""
    return {"name": "driftline", "version": version, "extensions": [], "models": dict(models)}
