"""MLflow's scoring protocol (``mlflow models serve``): ``POST /invocations``, read and answered as MLflow does.

Bodies, as MLflow 2 and 3's ``mlflow/pyfunc/scoring_server`` takes them: ``application/json`` with
exactly one of ``dataframe_split`` (``{"columns": [...], "data": [[...]]}``), ``dataframe_records``
(a list of row objects), ``instances`` or ``inputs`` (row objects, or an object of columns), an
optional ``params`` ignored as a pyfunc without parameters ignores it; rows without names (lists, as
MLflow's own docs send ``{"inputs": [[1, 2], [3, 4]]}``) hold the model's features in schema order;
or ``text/csv`` with a header (the values read as text and typed as ``predict`` types a CSV file).
Another content type, a charset other than UTF-8 or an unknown content-type parameter is 415 with a
plain-text body, as MLflow answers. The answer is ``{"predictions": [...]}`` as MLflow writes it for
the LightGBM flavour's array: P(class 1) per row for a binary model, a list of class probabilities
per row for a multiclass one, the value for regression; a client written for MLflow reads it
unchanged. Errors are MLflow's ``{"error_code": "BAD_REQUEST", "message": ...}`` with HTTP 400. The
version that answered is in a header (:data:`VERSION_HEADER`), since the body must stay MLflow's.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import polars as pl

from driftline.errors import InputError
from serving.scoring import RequestRefused, Scored, plain, records_columns

CSV, JSON = "text/csv", "application/json"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
VERSION_HEADER = "X-Driftline-Model-Version"


def content_type(header: str | None) -> str:
    """The media type of ``header``; RequestRefused (415) for anything MLflow would refuse."""
    mime, *pairs = [part.strip() for part in (header or "").split(";")]
    parameters = {k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in pairs if p)}
    if parameters.get("charset", "utf-8").lower() != "utf-8":
        raise RequestRefused("The scoring server only supports UTF-8", status=415, hint="send the body in UTF-8")
    extra = sorted(set(parameters) - {"charset"})
    if extra:
        raise RequestRefused(f"Unrecognized content type parameters: {', '.join(extra)}.", status=415,
                             hint="send Content-Type: application/json or text/csv")
    if mime.lower() not in (CSV, JSON):
        raise RequestRefused(f"This predictor only supports the following content types: Types: {[CSV, JSON]}. "
                             f"Got '{header or ''}'.", status=415, hint="send Content-Type: application/json")
    return mime.lower()


def _split(value: Any) -> dict[str, list[Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list) or not isinstance(
            value.get("data"), list):
        raise InputError("dataframe_split must be an object with \"columns\" and \"data\"",
                         hint='e.g. {"dataframe_split": {"columns": ["sessions"], "data": [[3]]}}')
    columns = [str(c) for c in value["columns"]]
    rows = value["data"]
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InputError(f"dataframe_split row {i + 1} has {len(row) if isinstance(row, list) else 'no'} "
                             f"values for {len(columns)} columns", hint="give one value per column in every row")
    if not rows:
        return {c: [] for c in columns}
    # zip transposes in C: a comprehension per column was a Python loop over every value.
    return dict(zip(columns, map(list, zip(*rows, strict=True)), strict=True))


def _tabular(value: Any, key: str) -> dict[str, Any] | list[list[Any]]:
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        return value  # rows without names: the model's features in order (MLflow's docs send these)
    if isinstance(value, list):
        return records_columns(value, key)
    if isinstance(value, dict):
        return dict(value)  # an object of columns
    raise InputError(f"{key} must be a list of row objects or an object of columns",
                     hint=f'e.g. {{"{key}": [{{"sessions": 3}}]}}')


def json_columns(body: bytes) -> dict[str, Any] | list[list[Any]]:
    """The named columns of a JSON body (see the module doc), or its unnamed rows."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}",
                         hint="send a JSON object such as {\"dataframe_split\": {...}}") from None
    if not isinstance(decoded, dict):
        raise InputError("The input must be a JSON dictionary with exactly one of the input fields "
                         f"{set(FORMATS)}. Received a {type(decoded).__name__}.",
                         hint='wrap the rows, e.g. {"dataframe_records": [...]}')
    given = [k for k in FORMATS if k in decoded]
    if len(given) != 1:
        raise InputError("The input must be a JSON dictionary with exactly one of the input fields "
                         f"{set(FORMATS)}. Received dictionary with input fields: {list(decoded)}.",
                         hint="use one of dataframe_split, dataframe_records, instances, inputs")
    key = given[0]
    if key == "dataframe_split":
        return _split(decoded[key])
    if key == "dataframe_records" and not isinstance(decoded[key], list):
        raise InputError("dataframe_records must be a list of row objects", hint='e.g. [{"sessions": 3}]')
    return _tabular(decoded[key], key)


def positional_columns(rows: list[list[Any]], features: tuple[str, ...]) -> dict[str, list[Any]]:
    """Unnamed rows as the model's features, in the order it was trained on them."""
    for i, row in enumerate(rows):
        if len(row) != len(features):
            raise InputError(f"row {i + 1} has {len(row)} values; without column names each row must hold the "
                             f"{len(features)} features in order ({', '.join(features)})",
                             hint="send named columns (dataframe_split) or one value per feature in order")
    return {name: [row[j] for row in rows] for j, name in enumerate(features)}


def csv_columns(body: bytes) -> dict[str, Any]:
    """The named columns of a CSV body with a header, every value as text (as ``predict`` reads CSV)."""
    try:
        frame = pl.read_csv(io.BytesIO(body), infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"Failed to parse input as a CSV table with a header: {str(exc).splitlines()[0][:200]}",
                         hint="send a header line and one line per row") from None
    return {c: frame[c].to_list() for c in frame.columns}


def predictions_body(scored: Scored) -> bytes:
    """``{"predictions": [...]}``: the model's array, as MLflow answers for the LightGBM flavour."""
    return orjson.dumps({"predictions": plain(scored.raw)})


_ERROR_CODES = {401: "UNAUTHENTICATED", 404: "RESOURCE_DOES_NOT_EXIST", 500: "INTERNAL_ERROR"}


def error_body(message: str, status: int = 400) -> bytes:
    """MLflow's error object; the code MLflow's REST layer uses for the status (BAD_REQUEST for 4xx)."""
    return orjson.dumps({"error_code": _ERROR_CODES.get(status, "BAD_REQUEST"), "message": message})
