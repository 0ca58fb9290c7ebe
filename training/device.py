"""Where LightGBM trains: the CPU, or a GPU when one is there and was asked for.

``choose_device("auto")`` probes a tiny CUDA and then a tiny OpenCL (``gpu``) fit and falls back to
the CPU with one warning naming why; the answer is cached per process by ``functools.cache`` (no
module global), so a search of many trials probes once and warns once. An explicit ``"gpu"`` or
``"cuda"`` that cannot train is an error, not a silent fallback: the user asked for it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
import warnings
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from driftline.errors import TrainingError

_LOG = logging.getLogger(__name__)
DEVICES = ("auto", "cpu", "gpu", "cuda")


@dataclass(frozen=True)
class DeviceChoice:
    """The device asked for, the device used, and why."""

    requested: str
    device: str  # "cpu" | "gpu" | "cuda"
    reason: str


@contextlib.contextmanager
def _native_stderr_muted() -> Iterator[None]:
    """Point file descriptor 2 at a scratch file: LightGBM's C++ side prints its fatal message
    there directly, past Python's ``sys.stderr`` and whatever the verbosity."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _probe(device: str) -> str | None:
    """Train two rounds on 64 rows on ``device``; ``None`` when it works, else LightGBM's error."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2))
    y = (x[:, 0] > 0).astype(np.float64)
    params = {"objective": "binary", "device_type": device, "verbosity": -1, "num_threads": 1}
    # The Python side also logs the fatal message through print(); the exception carries it anyway.
    try:
        with _native_stderr_muted(), contextlib.redirect_stdout(io.StringIO()):
            lgb.train(params, lgb.Dataset(x, y), num_boost_round=2)
    except lgb.basic.LightGBMError as exc:
        return str(exc).strip().splitlines()[0]
    return None


@functools.cache
def choose_device(requested: str) -> DeviceChoice:
    """Resolve ``auto``/``cpu``/``gpu``/``cuda`` to a device LightGBM can train on here."""
    if requested not in DEVICES:
        raise TrainingError(f"unknown device {requested!r}", hint=f"use one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return DeviceChoice(requested, "cpu", "asked for the CPU")
    if requested in ("gpu", "cuda"):
        error = _probe(requested)
        if error is not None:
            raise TrainingError(f"LightGBM cannot train on device {requested!r}: {error}",
                                hint="use device 'auto' to fall back to the CPU, or install a GPU build")
        return DeviceChoice(requested, requested, f"{requested} probe trained")
    errors = []
    for device in ("cuda", "gpu"):
        error = _probe(device)
        if error is None:
            _LOG.info("LightGBM trains on %s", device)
            return DeviceChoice(requested, device, f"{device} probe trained")
        errors.append(f"{device}: {error}")
    reason = "no usable GPU (" + "; ".join(errors) + ")"
    warnings.warn(f"driftline trains LightGBM on the CPU: {reason}", RuntimeWarning, stacklevel=2)
    return DeviceChoice(requested, "cpu", reason)
