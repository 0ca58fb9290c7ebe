"""Device choice: auto falls back to the CPU with exactly one warning; an explicit GPU that is
not there is an error. This machine has no GPU, so the fallback path is the one exercised."""

from __future__ import annotations

import warnings

import pytest

from driftline.errors import TrainingError
from training import choose_device


@pytest.fixture(autouse=True)
def fresh_cache():
    choose_device.cache_clear()
    yield
    choose_device.cache_clear()


def test_auto_falls_back_to_cpu_with_one_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = choose_device("auto")
        second = choose_device("auto")
    assert first == second
    assert first.device == "cpu" and first.requested == "auto"
    assert "no usable GPU" in first.reason
    ours = [w for w in caught if "trains LightGBM on the CPU" in str(w.message)]
    assert len(ours) == 1


def test_cpu_needs_no_probe() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert choose_device("cpu").device == "cpu"


def test_explicit_gpu_without_gpu_is_an_error() -> None:
    with pytest.raises(TrainingError, match="cannot train on device 'gpu'"):
        choose_device("gpu")


def test_unknown_device_is_named() -> None:
    with pytest.raises(TrainingError, match="unknown device 'tpu'"):
        choose_device("tpu")
