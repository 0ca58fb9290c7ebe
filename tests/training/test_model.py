"""The final model: byte-identical files for the same data, seed and threads; save/load round
trip; the category mapping travels with the model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from driftline.errors import TrainingError
from training import TrainedModel, fit_final

PARAMS = {"num_leaves": 15, "learning_rate": 0.1, "bagging_fraction": 0.8, "bagging_freq": 1,
          "feature_fraction": 0.8}


def _fit(frame: pl.DataFrame, seed: int = 3, n_threads: int = 2) -> TrainedModel:
    return fit_final(frame, features=["a", "b", "colour"], categorical=["colour"], label="y",
                     task="binary", params=PARAMS, num_boost_round=25, seed=seed, n_threads=n_threads)


def test_same_data_seed_threads_give_byte_identical_files(binary_frame, tmp_path: Path) -> None:
    first = _fit(binary_frame).save(tmp_path / "one")
    second = _fit(binary_frame).save(tmp_path / "two")
    assert [p.name for p in first] == ["model.txt", "model_schema.json"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    # A different seed changes the bagging draws, hence the trees: the test can fail.
    assert _fit(binary_frame, seed=4).model_bytes() != first[0].read_bytes()


def test_model_bytes_equal_in_a_fresh_process(binary_frame, tmp_path: Path) -> None:
    binary_frame.write_parquet(tmp_path / "data.parquet")
    script = textwrap.dedent(f"""
        import polars as pl
        from training import fit_final
        frame = pl.read_parquet({str(tmp_path / 'data.parquet')!r})
        model = fit_final(frame, features=["a", "b", "colour"], categorical=["colour"], label="y",
                          task="binary", params={PARAMS!r}, num_boost_round=25, seed=3, n_threads=2)
        model.save({str(tmp_path / 'child')!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2])
    assert (tmp_path / "child" / "model.txt").read_bytes() == _fit(binary_frame).model_bytes()


def test_save_load_round_trip_and_schema_file(binary_frame, tmp_path: Path) -> None:
    model = _fit(binary_frame)
    model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    assert np.array_equal(loaded.predict(binary_frame), model.predict(binary_frame))
    schema = json.loads((tmp_path / "model_schema.json").read_text())
    assert schema["categories"] == {"colour": ["blue", "green", "grey", "red"]}
    assert schema["features"] == ["a", "b", "colour"] and schema["task"] == "binary"


def test_categories_are_used_and_unseen_goes_missing(binary_frame) -> None:
    model = _fit(binary_frame)
    base = pl.DataFrame({"a": [0.0] * 3, "b": [0.0] * 3, "colour": ["red", "blue", "violet"]})
    red, blue, violet = model.predict(base)
    assert red > blue + 0.1  # the synthetic label favours red
    assert 0.0 < violet < 1.0
    probs = model.predict(binary_frame)
    assert probs.shape == (binary_frame.height,) and ((probs > 0) & (probs < 1)).all()


def test_load_refuses_a_broken_folder(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="cannot load the model"):
        TrainedModel.load(tmp_path)


def test_one_class_label_is_refused(binary_frame) -> None:
    with pytest.raises(TrainingError, match="one class only"):
        _fit(binary_frame.with_columns(y=pl.lit(1)))


def test_predict_threads_change_no_bit(binary_frame) -> None:
    # The server scores a lone large request on both cores (serving.app ALONE_THREADS): LightGBM
    # scores each row on its own, so every count gives the same float64 bits as one thread.
    model = _fit(binary_frame, n_threads=1)
    frame = pl.concat([binary_frame] * 20)
    one = model.predict(frame)
    assert model.predict(frame, threads=2).tobytes() == one.tobytes()
    assert model.predict(frame, threads=3).tobytes() == one.tobytes()
    assert len(np.unique(one)) > 2  # real scores, not a constant
