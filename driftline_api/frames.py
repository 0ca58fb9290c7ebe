"""Frames in, frames out: how the Python API takes a notebook's data and hands results back.

A notebook holds polars or pandas frames; the use cases read files. :func:`as_polars` accepts
either (pandas through Arrow, so column types survive) and refuses anything else by name;
:func:`like_input` gives a result back in the kind the caller passed. :func:`frame_drop` writes a
frame as a Parquet drop in a private temporary folder, so that a frame is ingested through the
very same use case as a file (validation, quarantine, the ``ingest`` entry); the drop's name
carries the group and the sha256 of its bytes, which is also what makes ingesting the same frame
twice a duplicate. The folder is removed when the ingestion returns; a process killed in between
leaves it in the system's temporary folder (``driftline-frame-*``), never in the data home.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from driftline.atomic import fault_point, write_atomic
from driftline.errors import InputError

FRAME_FAULT = "api.frame.written"  # kill point: the frame's drop is on disk, nothing is ingested yet


def _is_pandas(frame: object) -> bool:
    return type(frame).__module__.split(".")[0] == "pandas" and type(frame).__name__ == "DataFrame"


def as_polars(frame: object, what: str) -> pl.DataFrame:
    """``frame`` as a polars DataFrame: a polars frame as it is, a pandas one through Arrow."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if _is_pandas(frame):
        try:
            return pl.from_pandas(frame)
        except (TypeError, ValueError, ImportError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{what}: this pandas frame cannot be converted to Arrow: {exc}",
                             hint="give every column one type (no mixed objects), or pass a polars frame") from exc
    raise InputError(f"{what} takes a polars or pandas DataFrame, got {type(frame).__name__}",
                     hint="pass polars.DataFrame or pandas.DataFrame (or, to ingest, a file or folder path)")


def like_input(result: pl.DataFrame, given: object) -> Any:
    """``result`` as the kind of frame the caller gave: pandas for pandas, else polars."""
    return result.to_pandas() if _is_pandas(given) else result


@contextlib.contextmanager
def frame_drop(frame: pl.DataFrame, group: str) -> Iterator[Path]:
    """A Parquet drop of ``frame``, ``<group>-frame-<sha256[:16]>.parquet``, in a temporary folder
    that is removed on exit. Empty frames are refused: they would store nothing and say nothing."""
    if frame.width == 0 or frame.height == 0:
        raise InputError(f"the frame for group {group!r} has no rows" if frame.width else
                         f"the frame for group {group!r} has no columns",
                         hint="pass a frame with the contract's columns and at least one row")
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    with tempfile.TemporaryDirectory(prefix="driftline-frame-") as folder:
        path = Path(folder) / f"{group}-frame-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
        write_atomic(path, data, mode=0o600)  # the rows may be personal data: owner-only, like quarantine
        fault_point(FRAME_FAULT)
        yield path
