"""The LightGBM search space and the fixed parameters every fit carries.

A space maps a LightGBM parameter name to a :class:`IntRange`, a :class:`FloatRange`, a
:class:`Choice` or a plain value (fixed, not searched). :func:`build_space` starts from the default
space below and applies the caller's overrides, which may also come from JSON-ish settings
(``{"low": 8, "high": 64, "log": true}``, ``{"choices": [63, 255]}``, a scalar, or ``None`` to drop a
parameter). :func:`suggest` asks an Optuna trial for one point of the space, and
:func:`base_params` adds what is not searched: objective, quiet logging, seed, threads and the
switches that make the model bytes a function of data, seed and thread count alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from driftline.errors import ConfigError


@dataclass(frozen=True)
class IntRange:
    """Integers in ``[low, high]``, sampled on a log scale when ``log``."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high or (self.log and self.low <= 0):
            raise ConfigError(f"bad integer range [{self.low}, {self.high}] (log={self.log})",
                              hint="use low <= high, and low > 0 on a log scale")


@dataclass(frozen=True)
class FloatRange:
    """Floats in ``[low, high]``, sampled on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high or (self.log and self.low <= 0):
            raise ConfigError(f"bad float range [{self.low}, {self.high}] (log={self.log})",
                              hint="use low <= high, and low > 0 on a log scale")


@dataclass(frozen=True)
class Choice:
    """One of a few values (for example ``max_bin``)."""

    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise ConfigError("empty choice in the search space", hint="give at least one option")


Dimension = IntRange | FloatRange | Choice

# Ranges that suit tabular data from a hundred rows to a few million; bagging_freq 0 turns
# bagging off, so TPE can learn whether row subsampling helps at all. The lower ends (4 leaves,
# 2 rows per leaf) and the strong L2 end serve small data sets, where the best trees are tiny and
# heavily regularised; a log-uniform 1e-3..100 spends its draws on penalties that change the fit
# (below 1e-3 a penalty does nothing on gradients of order 1). Coarse histograms (15, 31 bins)
# regularise too: on a few hundred rows a split point picked among 255 bins fits noise (FLAML
# searches max_bin down to 7); the starting points keep LightGBM's 255 for large data.
DEFAULT_SPACE: Mapping[str, Any] = {
    "num_leaves": IntRange(4, 256, log=True),
    "learning_rate": FloatRange(0.01, 0.3, log=True),
    "min_data_in_leaf": IntRange(2, 200, log=True),
    "feature_fraction": FloatRange(0.5, 1.0),
    "bagging_fraction": FloatRange(0.5, 1.0),
    "bagging_freq": IntRange(0, 7),
    "lambda_l1": FloatRange(1e-3, 100.0, log=True),
    "lambda_l2": FloatRange(1e-3, 100.0, log=True),
    "max_bin": Choice((15, 31, 63, 127, 255)),
}

# Points tried before the sampler draws, cheapest first (FLAML's "low-cost initial point"): small
# trees that fit fast and rarely overfit, then LightGBM's own defaults, the baseline a search must
# beat. Each is clipped into the space in use (see :func:`starting_points`).
STARTING_POINTS: tuple[Mapping[str, Any], ...] = (
    {"num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 10, "feature_fraction": 1.0,
     "bagging_fraction": 1.0, "bagging_freq": 0, "lambda_l1": 1e-3, "lambda_l2": 1.0, "max_bin": 255},
    {"num_leaves": 31, "learning_rate": 0.1, "min_data_in_leaf": 20, "feature_fraction": 1.0,
     "bagging_fraction": 1.0, "bagging_freq": 0, "lambda_l1": 1e-3, "lambda_l2": 1e-3, "max_bin": 255},
)


def _parse(name: str, spec: Any) -> Any:
    """Turn one override (a dimension, a JSON-ish dict or a fixed value) into a space entry."""
    if isinstance(spec, (IntRange, FloatRange, Choice)):
        return spec
    if isinstance(spec, Mapping):
        if "choices" in spec:
            return Choice(tuple(spec["choices"]))
        if "low" in spec and "high" in spec:
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                return IntRange(low, high, log)
            return FloatRange(float(low), float(high), log)
        raise ConfigError(f"search-space entry {name!r} is {dict(spec)!r}",
                          hint='use {"low": .., "high": .., "log": ..}, {"choices": [..]} or a value')
    return spec


def build_space(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The default space with ``overrides`` applied; a ``None`` override removes a parameter."""
    space = dict(DEFAULT_SPACE)
    for name, spec in (overrides or {}).items():
        if spec is None:
            space.pop(name, None)
        else:
            space[name] = _parse(name, spec)
    return space


def suggest(trial: optuna.Trial, space: Mapping[str, Any]) -> dict[str, Any]:
    """One point of ``space``: searched dimensions via ``trial``, fixed values as they are."""
    params: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, IntRange):
            params[name] = trial.suggest_int(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, FloatRange):
            params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, Choice):
            params[name] = trial.suggest_categorical(name, list(dim.options))
        else:
            params[name] = dim
    return params


def _clip(dim: Any, value: Any) -> Any:
    if isinstance(dim, IntRange):
        return int(min(max(int(value), dim.low), dim.high))
    if isinstance(dim, FloatRange):
        return float(min(max(float(value), dim.low), dim.high))
    # a choice keeps the option nearest to the wanted value (the first one for non-numbers)
    numeric = [o for o in dim.options if isinstance(o, (int, float)) and not isinstance(o, bool)]
    if value in dim.options or not numeric:
        return value if value in dim.options else dim.options[0]
    return min(numeric, key=lambda o: abs(o - value))


def starting_points(space: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """:data:`STARTING_POINTS` restricted to the searched dimensions of ``space`` and clipped into
    their ranges; dimensions the points do not name are left to the sampler. Duplicates collapse."""
    points: list[dict[str, Any]] = []
    for point in STARTING_POINTS:
        clipped = {name: _clip(dim, point[name]) for name, dim in space.items()
                   if isinstance(dim, (IntRange, FloatRange, Choice)) and name in point}
        if clipped and clipped not in points:
            points.append(clipped)
    return tuple(points)


def fixed_params(space: Mapping[str, Any]) -> dict[str, Any]:
    """The space's fixed (not searched) values; Optuna's best_params omits them."""
    return {name: dim for name, dim in space.items()
            if not isinstance(dim, (IntRange, FloatRange, Choice))}


def base_params(task: str, *, n_classes: int, seed: int, n_threads: int, device: str,
                metric: str | None) -> dict[str, Any]:
    """Parameters that are not searched: task, quietness, seed, threads, determinism."""
    objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task]
    params: dict[str, Any] = {
        "objective": objective,
        "verbosity": -1,
        "seed": seed,
        "num_threads": n_threads,
        "device_type": device,
        # deterministic + a fixed histogram layout keep the model bytes equal across runs
        # (LightGBM otherwise picks row- or column-wise by timing, which changes the trees).
        "deterministic": True,
        "force_col_wise": True,
        # min_data_in_leaf is searched, so LightGBM must not drop features at Dataset time.
        "feature_pre_filter": False,
        "metric": metric if metric is not None else "None",
    }
    if task == "multiclass":
        params["num_class"] = n_classes
    return params
