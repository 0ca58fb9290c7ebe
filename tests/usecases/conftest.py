"""Fixtures of the use-case tests; the small worlds they build on are in ``tests/usecases/small.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.store import FeatureStore
from tests.usecases.small import tiny_fit
from training.model import TrainedModel


@pytest.fixture(scope="session")
def tiny_model() -> TrainedModel:
    return tiny_fit()


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return FeatureStore(tmp_path / "store")
