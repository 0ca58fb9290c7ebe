"""Model search and fit: Optuna over LightGBM with time-respecting validation (pure, no Prefect).

``run_search`` finds parameters, ``fit_final`` refits with them, ``TrainedModel`` saves, loads and
predicts, ``evaluate`` scores, and ``choose_device`` picks CPU or GPU. The modules are listed in
docs/ARCHITECTURE.md; this package imports nothing from the orchestration layer.
"""

from training.device import DeviceChoice, choose_device
from training.metrics import evaluate, resolve_metric
from training.model import TrainedModel, fit_final
from training.schema import FeatureSchema
from training.search import SearchConfig, SearchResult, TrialRecord, run_search
from training.space import DEFAULT_SPACE, Choice, FloatRange, IntRange, build_space
from training.split import TimeFold, expanding_folds, time_holdout

__all__ = [
    "DEFAULT_SPACE", "Choice", "DeviceChoice", "FeatureSchema", "FloatRange", "IntRange",
    "SearchConfig", "SearchResult", "TimeFold", "TrainedModel", "TrialRecord", "build_space",
    "choose_device", "evaluate", "expanding_folds", "fit_final", "resolve_metric", "run_search",
    "time_holdout",
]
