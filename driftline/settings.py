"""The one typed settings object, built once at the edge (CLI or flow entry) and passed down.

Values come from ``DRIFTLINE_*`` environment variables (nested groups use ``__``, for example
``DRIFTLINE_TRAINING__N_TRIALS=40``), then from the defaults below. Nothing reads the environment
at import time: call :func:`load_settings` where the program starts, and tests override with
:func:`settings_override`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftline.errors import ConfigError
from driftline.home import DataHome


class TrainingSettings(BaseModel):
    """Model search: Optuna over LightGBM."""

    n_trials: int = Field(20, ge=1, description="Trial budget of one search.")
    timeout_s: float | None = Field(None, gt=0, description="Wall-time budget of one search, seconds.")
    patience: int | None = Field(None, ge=1, description="Stop after this many trials bring no improvement.")
    seed: int = Field(42, description="Seed of the TPE sampler and of LightGBM.")
    n_threads: int = Field(2, ge=1, description="LightGBM threads; with the seed this fixes the model bytes.")
    device: Literal["auto", "cpu", "gpu", "cuda"] = Field("auto", description="Where LightGBM trains.")
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="Latest share of label time kept for the holdout.")
    as_known: bool = Field(
        False, description="Join feature rows as known at label time (ingested by then, `_ingested_at`), so a "
        "late correction never leaks into a training row. Off here: the demo model keeps the plain join; new "
        "model specs turn it on.")
    early_stopping_rounds: int = Field(30, ge=1, description="LightGBM early stopping on the validation fold.")
    max_rounds: int = Field(1000, ge=1, description="Boosting rounds per trial before early stopping.")
    pruner: Literal["auto", "median", "hyperband", "none"] = Field(
        "auto", description="Pruning of unpromising trials from LightGBM's per-round metric; auto: the median "
        "pruner when validating on a holdout, none on expanding folds (small data, where it cut slow learners).")
    storage: str | None = Field(
        None, description="Optuna storage URL (PostgreSQL in pool mode); default a journal file under studies/.")
    parallel_workers: int = Field(
        1, ge=1, le=64, description="Pool mode: flow runs sharing each study (the training run plus "
                                    "search-worker runs on the pool); needs a storage URL and a server.")


class GateSettings(BaseModel):
    """The default evaluation gate."""

    min_auc: float = Field(0.65, description="Absolute floor on holdout ROC AUC.")
    max_logloss: float = Field(0.69, description="Absolute ceiling on holdout log loss.")
    max_auc_drop: float = Field(0.005, ge=0, description="How much AUC the candidate may lose against the champion.")
    min_training_rows: int = Field(500, ge=0, description="Refuse to train a champion on fewer rows.")
    max_quarantine_share: float = Field(0.05, ge=0, le=1, description="Refuse when more of the input was quarantined.")
    max_ece: float = Field(0.05, gt=0, le=1, description="Ceiling on the expected calibration error on the holdout.")
    max_model_bytes: int = Field(50_000_000, ge=1, description="Ceiling on the model file's size.")
    max_latency_ms_per_1k: float = Field(50.0, gt=0, description="Ceiling on scoring time per 1,000 rows.")
    slice_columns: tuple[str, ...] = Field(
        (), description="Segment columns where no segment may lose more than max_slice_auc_drop AUC to the champion.")
    max_slice_auc_drop: float = Field(0.05, ge=0, description="AUC a segment may lose against the champion.")
    min_slice_rows: int = Field(
        30, ge=0, description="Rows (binary: of the rarer class) a segment needs before it is held to the whole "
                              "holdout's absolute bounds; smaller segments are reported, not judged (0: judge all).")
    require_significant_improvement: bool = Field(
        False, description="Promote over a champion only when DeLong finds the AUC gain significant.")
    significance_alpha: float = Field(0.05, gt=0, lt=1, description="Level of the significance test.")
    bootstrap_resamples: int = Field(
        1000, ge=100, description="Paired-bootstrap resamples of the significance test (multiclass, regression).")
    bootstrap_seed: int = Field(0, description="Seed of the paired bootstrap, so a verdict is reproducible.")
    # Binary, at the decision threshold chosen on validation data: reported, and checked only once bounded.
    min_precision: float | None = Field(None, ge=0, le=1, description="Floor on precision at the threshold.")
    min_recall: float | None = Field(None, ge=0, le=1, description="Floor on recall at the threshold.")
    min_f1: float | None = Field(None, ge=0, le=1, description="Floor on F1 at the threshold.")
    min_positive_rate: float | None = Field(None, ge=0, le=1, description="Floor on the share flagged positive.")
    max_positive_rate: float | None = Field(None, ge=0, le=1, description="Ceiling on the share flagged positive.")
    # Multiclass.
    max_multi_logloss: float = Field(1.0, gt=0, description="Ceiling on holdout multi-class log loss.")
    min_accuracy: float = Field(0.5, ge=0, le=1, description="Floor on holdout accuracy (argmax).")
    min_macro_f1: float = Field(0.4, ge=0, le=1, description="Floor on holdout macro-averaged F1.")
    min_class_recall: float = Field(0.1, ge=0, le=1, description="Floor on every class's holdout recall.")
    max_logloss_increase: float = Field(0.01, ge=0, description="Log loss the candidate may add over the champion.")
    # Regression.
    max_rmse: float | None = Field(None, gt=0, description="Absolute ceiling on holdout RMSE, in label units.")
    max_mae: float | None = Field(None, gt=0, description="Absolute ceiling on holdout MAE, in label units.")
    max_rmse_to_baseline: float | None = Field(
        1.0, gt=0, description="Ceiling on RMSE over the naive baseline's RMSE (1.0: must beat the constant).")
    max_mae_to_baseline: float | None = Field(
        1.0, gt=0, description="Ceiling on MAE over the naive baseline's MAE on the holdout.")
    regression_baseline: Literal["mean", "median"] = Field(
        "mean", description="The naive baseline: predict the training labels' mean or median.")
    max_rmse_increase: float = Field(0.01, ge=0, description="Relative RMSE the candidate may add over the champion.")
    max_slice_residual_bias: float = Field(
        0.5, gt=0, description="Ceiling on |mean residual| in any segment of slice_columns, as a share of the RMSE.")


class DriftSettings(BaseModel):
    """The drift monitor's dataset-level rule."""

    psi_threshold: float = Field(0.2, gt=0, description="PSI above which one feature counts as drifted.")
    share_threshold: float = Field(0.3, gt=0, le=1,
                                   description="Share of drifted features that makes the dataset drifted.")
    p_value: float = Field(0.01, gt=0, lt=1,
                           description="Significance of KS / chi-square before multiple-test correction.")
    critical_features: tuple[str, ...] = Field((), description="Features whose drift alone makes the dataset drifted.")
    window_days: int = Field(30, ge=1, description="Length of the current window compared with the reference.")
    label_horizon_days: int = Field(
        7, ge=1, description="A batch score is matched with the entity's first label within this many days.")
    max_auc_drop: float = Field(0.05, ge=0, description="AUC lost on labelled batch scores that counts as drift.")
    chart_stable_features: bool = Field(
        False, description="Chart every feature's distribution in the drift report, not only the drifted ones.")


class IngestSettings(BaseModel):
    """Bounds on one landing drop; a drop past one is quarantined whole ("poisoned") and not read again."""

    max_file_bytes: int | None = Field(None, ge=1, description="Largest drop file, in bytes; none: unbounded.")
    max_decompressed_bytes: int = Field(
        4 << 30, ge=1, description="Bytes a gzipped drop may expand to (and a Parquet drop declare uncompressed).")
    max_line_bytes: int = Field(16 << 20, ge=1, description="Longest line of a CSV or JSON Lines drop, in bytes.")
    max_field_bytes: int = Field(1 << 20, ge=1, description="Longest single value of a drop, in bytes.")


class Settings(BaseSettings):
    """Root settings of driftline; every field is described, every group typed."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTLINE_", env_nested_delimiter="__", extra="ignore", frozen=True)

    home: Path = Field(Path(".driftline"), description="The data home; see docs/ARCHITECTURE.md.")
    model_name: str = Field("churn", description="Registry name of the model the flows train.")
    label_group: str = Field("churn_labels", description="Feature group holding the label events.")
    feature_groups: tuple[str, ...] = Field(
        ("customer_activity", "customer_billing"), description="Feature groups joined into training sets.")
    contracts_dir: Path | None = Field(
        None, description="Folder of feature-group contracts (*.toml); default the packaged demo contracts.")
    models_dir: Path | None = Field(
        None, description="Folder of declared model specs (NAME.toml); default <home>/models.")
    key_passphrase: SecretStr | None = Field(None, description="Passphrase of the signing key.")
    key_passphrase_file: Path | None = Field(None, description="File holding the signing key's passphrase.")
    actor: str | None = Field(None, description="Who acts, for the audit trail; default the OS user.")
    compact_min_files: int = Field(
        64, ge=2, description="Compact a group's Delta table after an ingest leaves it with this many files.")
    landing_retention_days: float = Field(
        7.0, ge=0, description="Days an ingested (or wholly quarantined) drop stays in landing/ after it "
        "landed; then ingestion removes it. Drops not yet ingested are never removed.")
    witness_dir: Path | None = Field(
        None, description="Folder of the witness files that remember each data home's last verified audit "
        "checkpoint, outside the data home; default $XDG_STATE_HOME/driftline/witness, else "
        "~/.local/state/driftline/witness. A folder inside the data home is refused.")
    report_pdf: bool = Field(
        True, description="Add a PDF copy of an audit export's model report when LibreOffice or Chromium is "
        "installed (never fails without one; the bundle says which was made).")
    training: TrainingSettings = TrainingSettings()
    gate: GateSettings = GateSettings()
    drift: DriftSettings = DriftSettings()
    ingest: IngestSettings = IngestSettings()

    @property
    def data_home(self) -> DataHome:
        return DataHome(self.home)


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment plus explicit overrides (the CLI's flags)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        first = str(exc).splitlines()
        raise ConfigError(
            f"invalid DRIFTLINE_* setting: {' '.join(first[1:3]).strip() or first[0]}",
            hint="fix the environment variable or flag named above") from exc


@contextlib.contextmanager
def settings_override(**env: str) -> Iterator[None]:
    """Temporarily set ``DRIFTLINE_<NAME>`` variables (tests): ``settings_override(home="/tmp/x")``."""
    saved = {}
    for name, value in env.items():
        key = f"DRIFTLINE_{name.upper()}"
        saved[key] = os.environ.get(key)
        os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
