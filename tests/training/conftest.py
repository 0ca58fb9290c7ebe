"""Tiny data for the training tests: synthetic frames with a time column, and sklearn's bundled
datasets given one (their rows carry no time, so consecutive rows share a synthetic day)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn import datasets

from training import SearchConfig


def synthetic_binary(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    """Label depends on a number, a category and noise; 100 days of 20 rows."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue", "grey"], size=n)
    logit = 1.5 * a - 0.5 * b + np.where(colour == "red", 1.0, 0.0) + rng.normal(scale=0.8, size=n)
    return pl.DataFrame({"a": a, "b": b, "colour": colour, "day": np.arange(n) // 20,
                         "y": (logit > 0.3).astype(np.int64)})


def bundled(name: str) -> tuple[pl.DataFrame, list[str]]:
    """breast_cancer / wine / diabetes as a frame with a ``day`` column and label ``y``."""
    loader = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine,
              "diabetes": datasets.load_diabetes}[name]
    bunch = loader()
    features = [f"f{i}" for i in range(bunch.data.shape[1])]
    frame = pl.DataFrame(bunch.data, schema=features).with_columns(
        y=pl.Series(bunch.target), day=pl.Series(np.arange(len(bunch.target)) // 5))
    # The bundled files are sorted by class; a fixed shuffle spreads classes over time.
    order = np.random.default_rng(7).permutation(frame.height)
    frame = frame[order].with_columns(day=pl.Series(np.arange(frame.height) // 5))
    return frame, features


@pytest.fixture
def binary_frame() -> pl.DataFrame:
    return synthetic_binary()


@pytest.fixture
def make_binary():
    return synthetic_binary


@pytest.fixture
def load_bundled():
    return bundled


@pytest.fixture
def search_args() -> dict:
    return {"features": ["a", "b", "colour"], "categorical": ["colour"], "label": "y",
            "time_column": "day"}


@pytest.fixture
def quick_config(tmp_path: Path) -> SearchConfig:
    """A small, fast search on the CPU with its journal under tmp_path."""
    return SearchConfig(task="binary", n_trials=6, max_rounds=80, early_stopping_rounds=10,
                        device="cpu", n_threads=1, studies_dir=tmp_path / "studies")
