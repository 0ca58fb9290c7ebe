"""A binary model's decision threshold travels in its schema: saved, read back, used to decide;
refused where it does not fit; and a schema without one keeps the bytes older releases signed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftline.canonical import canonical_json
from driftline.errors import IntegrityError, TrainingError
from registry import KeyRing, ModelRegistry
from tests.usecases.small import tiny_fit, tiny_frame
from training import FeatureSchema, TrainedModel

PASSPHRASE = b"correct horse battery staple"


def test_the_threshold_round_trips_and_decides(tmp_path: Path) -> None:
    model = tiny_fit().with_threshold(0.8)
    model.save(tmp_path)
    loaded = TrainedModel.load(tmp_path)
    assert loaded.schema == model.schema and loaded.schema.threshold == 0.8
    scores = loaded.predict(tiny_frame())
    assert np.array_equal(loaded.predict_labels(tiny_frame()), (scores >= 0.8).astype(int))
    assert json.loads((tmp_path / "model_schema.json").read_text())["threshold"] == 0.8


def test_a_schema_without_threshold_keeps_the_bytes_it_had() -> None:
    schema = tiny_fit().schema
    assert "threshold" not in schema.to_dict()
    assert canonical_json(schema.to_dict()) == canonical_json(
        {"schema_version": 1, "task": "binary", "features": ["sessions"], "categories": {}, "classes": []})
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


@pytest.mark.parametrize(("task", "threshold"), [("binary", 1.5), ("binary", -0.1), ("binary", "0.5"),
                                                  ("binary", True), ("multiclass", 0.5), ("regression", 0.5)])
def test_a_threshold_that_does_not_fit_is_refused(task: str, threshold: object) -> None:
    data = {"schema_version": 1, "task": task, "features": ["x"], "categories": {},
            "classes": ["a", "b", "c"] if task == "multiclass" else [], "threshold": threshold}
    with pytest.raises(TrainingError, match="decision threshold") as caught:
        FeatureSchema.from_dict(data)
    assert caught.value.hint


def test_a_signed_threshold_changed_by_one_byte_is_refused(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.init(PASSPHRASE)
    registry = ModelRegistry(tmp_path / "registry", ring.trust, signer=lambda: ring.load(PASSPHRASE))
    files = {p.name: p.read_bytes() for p in tiny_fit().with_threshold(0.75).save(tmp_path / "m")}
    version = registry.register("churn", files=files, metadata={}, status="accepted", key=ring.load(PASSPHRASE))
    schema_file = version.path / "model_schema.json"
    data = schema_file.read_bytes()
    assert b'"threshold":0.75' in data
    schema_file.chmod(0o644)
    schema_file.write_bytes(data.replace(b'"threshold":0.75', b'"threshold":0.15'))  # one byte: 7 -> 1
    with pytest.raises(IntegrityError):
        registry.load("churn", version.version)


def test_predict_labels_decodes_multiclass_and_passes_regression_values() -> None:
    frame = tiny_frame(30).with_columns(tier=np.array(["lo", "mid", "hi"])[np.arange(30) * 3 // 30],
                                        price=np.arange(30) * 1000.0)
    from training.model import fit_final
    params = {"num_leaves": 4, "min_data_in_leaf": 1, "min_data_in_bin": 1}
    multi = fit_final(frame, features=["sessions"], categorical=[], label="tier", task="multiclass",
                      params=params, num_boost_round=5, seed=1, n_threads=1)
    assert multi.schema.classes == ("hi", "lo", "mid")
    assert multi.predict_labels(frame).tolist() == frame["tier"].to_list()
    with pytest.raises(TrainingError, match="no classes"):
        tiny_fit().schema.class_values(np.array([0]))
    reg = fit_final(frame, features=["sessions"], categorical=[], label="price", task="regression",
                    params=params, num_boost_round=5, seed=1, n_threads=1)
    assert np.array_equal(reg.predict_labels(frame), reg.predict(frame))


def test_a_binary_label_of_two_strings_is_refused_naming_its_values() -> None:
    """It once said "holds ['None']": the values were reported after a failed cast to integers."""
    import polars as pl
    import pytest

    from driftline.errors import TrainingError
    from training.schema import FeatureSchema

    frame = pl.DataFrame({"x": [1.0, 2.0, 3.0], "sex": ["MALE", "FEMALE", "MALE"]})
    schema = FeatureSchema.fit(frame.with_columns(pl.lit(1).alias("y")), features=["x"], categorical=[], label="y",
                               task="binary")
    with pytest.raises(TrainingError, match=r"\['FEMALE', 'MALE'\], not 0/1 or true/false"):
        schema.labels(frame, "sex")
