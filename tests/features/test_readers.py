"""Drop readers: format by name, batches of bounded size numbered by row, raw values kept raw."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import DriftlineError, IngestError
from features.readers import PARSE_ERROR, ROW, _json_row, _json_row_exactly, format_of, open_drop


@pytest.mark.parametrize(("name", "expected"), [
    ("a.csv", ("csv", False)), ("a.CSV.gz", ("csv", True)), ("a.parquet", ("parquet", False)),
    ("a.jsonl", ("jsonl", False)), ("a.ndjson", ("jsonl", False))])
def test_format_by_name(name: str, expected: tuple[str, bool]) -> None:
    assert format_of(Path(name)) == expected


def test_gzipped_parquet_and_unknown_are_refused() -> None:
    with pytest.raises(IngestError, match="gzipped Parquet"):
        format_of(Path("a.parquet.gz"))
    with pytest.raises(IngestError, match="unknown file type"):
        format_of(Path("a.txt"))


def test_csv_batches_are_bounded_and_numbered(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n" + b"".join(f"{i},0{i}\n".encode() for i in range(10))))
    drop = open_drop(path, tmp_path, batch_rows=4)
    batches = list(drop.batches())
    assert drop.columns == ("a", "b") and all(b.height <= 4 for b in batches)
    rows = [r for b in batches for r in b.iter_rows(named=True)]
    assert [r[ROW] for r in rows] == list(range(1, 11)) and rows[3]["b"] == "03"  # kept as text


def test_parquet_keeps_its_types(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"a": pa.array(range(7), pa.int32())}), path, row_group_size=3)
    drop = open_drop(path, tmp_path, batch_rows=2)
    batches = list(drop.batches())
    assert drop.columns == ("a",) and max(b.height for b in batches) <= 2
    assert sum(b.height for b in batches) == 7 and str(batches[0]["a"].dtype) == "Int32"


def test_a_batch_across_row_groups_comes_in_one_chunk(tmp_path: Path) -> None:
    # Polars rechunks a multi-chunk frame on every select; the validator runs several per batch.
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"a": range(12), "b": [str(i) for i in range(12)]}), path, row_group_size=5)
    batches = list(open_drop(path, tmp_path, batch_rows=4).batches())
    assert [b.height for b in batches] == [4, 4, 4]
    assert all(n == 1 for b in batches for n in b.n_chunks("all"))


def test_jsonl_flags_problems_per_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1, "b": true}\n\n{"a": [1]}\nnot json\n')
    (batch,) = list(open_drop(path, tmp_path).batches())
    assert batch["a"].to_list() == ["1", "[1]", None] and batch["b"].to_list() == ["true", None, None]
    errors = batch[PARSE_ERROR].to_list()
    assert errors[0] is None and errors[1].startswith("nested value: a")
    assert errors[2].startswith("invalid JSON: line 4")


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=2),
                    st.dictionaries(st.text(max_size=3), _SCALARS, max_size=2))
_OBJECTS = st.dictionaries(st.text(max_size=5), _VALUES, max_size=6)


@settings(max_examples=400)
@given(st.one_of(_OBJECTS.map(lambda o: json.dumps(o, ensure_ascii=False).encode()),
                 _OBJECTS.map(lambda o: json.dumps(o).encode()),
                 _VALUES.map(lambda v: json.dumps(v).encode()),
                 st.binary(max_size=30),
                 st.tuples(_OBJECTS, st.integers(0, 40)).map(lambda t: json.dumps(t[0]).encode()[:t[1]]),
                 st.sampled_from([b'{"a": 1, "a": "2"}', b'{"a": "\\ud800"}', b'\xef\xbb\xbf{"a": 1}',
                                  b'{"a": "\x01"}', b'{"a": 1e400}', b'{"a": -9223372036854775809}',
                                  b'{"a": 18446744073709551616}', b'{"a": "\xc3"}', b'{"a": 1}\x00'])),
       st.sampled_from([b"\n", b"\r\n", b""]))
def test_the_fast_json_path_reads_every_line_as_the_exact_one_does(line: bytes, end: bytes) -> None:
    # orjson takes the usual line; anything it reads differently must fall back to json. A line naming
    # a reader's own column (``{"_line": null}``) is refused by both, with the same message.
    assert _outcome(_json_row, line + end) == _outcome(_json_row_exactly, line + end)


def _outcome(read, raw: bytes) -> object:
    try:
        return read(raw, 7)
    except DriftlineError as exc:
        return (type(exc).__name__, exc.message)


@pytest.mark.parametrize("line", [b'{"_line": null}', b'{"a": 1, "_parse_error": "x"}', b'{"_row": [1]}'])
def test_a_reserved_key_is_refused_by_both_json_paths(line: bytes) -> None:
    assert _outcome(_json_row, line)[0] == _outcome(_json_row_exactly, line)[0] == "_OwnKeys"
