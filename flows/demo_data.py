"""The demo's synthetic customers: daily landing drops for the three demo groups, seeded and realistic.

:func:`generate_demo` simulates customers with a latent churn propensity whose risk drifts day by
day: risk lowers engagement, raises support tickets and payment failures, and drives a daily churn
hazard (with plan and tenure). Activity is snapshotted daily, billing re-stated weekly and on every
change, and weekly label events ("churned within the next 14 days") land 14 days after their label
time, as real outcomes do. After ``shift_day`` a mobile app launches (device mix to mobile, more
but shorter sessions), prices rise and payment failures weigh more on churn, so drift monitoring
and retraining have something real to find. A few rows are corrupted on purpose, deterministically
from the seed, and counted in the returned :class:`DemoDrop`, so a test can check that ingestion
quarantines exactly those. Same arguments, same bytes.

It lives beside the demo it feeds, not in the pure ``features`` package: fake customers are not
part of a feature store. It imports no Prefect (``tests/test_architecture.py`` checks), so the
integration tests and benchmarks that need demo drops load it without a flow runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

from driftline.errors import InputError

ACTIVITY, BILLING, LABELS = "customer_activity", "customer_billing", "churn_labels"
DEVICES = ("desktop", "mobile", "tablet")
PLANS = ("basic", "standard", "premium")
PRICES = (12.0, 29.0, 59.0)
REGIONS = ("north", "south", "east", "west")
LABEL_EVERY_DAYS = 7
LABEL_HORIZON_DAYS = 14
# Corruptions planted per group: (kind, column, value). Each makes a row break exactly one rule.
BAD_ACTIVITY = (("negative_sessions", "sessions", -3), ("unknown_device", "device", "smartwatch"),
                ("malformed_customer_id", "customer_id", "C12-34X"), ("minutes_above_1440", "minutes_active", 1502.5),
                ("null_in_non_nullable", "support_tickets", None),
                ("unparseable_timestamp", "event_time", "2026-13-45T25:61:00Z"))
BAD_BILLING = (("unknown_plan", "plan", "platinum"), ("negative_spend", "monthly_spend", -20.0),
               ("null_in_non_nullable", "region", None), ("malformed_customer_id", "customer_id", "cust-42"),
               ("unparseable_timestamp", "event_time", "yesterday at noon"))


@dataclass(frozen=True)
class DropFile:
    """One landing file: ``rows`` rows of which ``bad_rows`` were corrupted on purpose (``bad_kinds``, one each)."""

    group: str
    day: int
    path: Path
    rows: int
    bad_kinds: tuple[str, ...] = ()

    @property
    def bad_rows(self) -> int:
        return len(self.bad_kinds)


@dataclass(frozen=True)
class DemoDrop:
    """Everything :func:`generate_demo` wrote, per day, so callers can ingest day ranges in order."""

    landing: Path
    seed: int
    customers: int
    days: int
    shift_day: int
    start: date
    files: tuple[DropFile, ...]
    churned_customers: int

    def for_days(self, first: int, last: int) -> tuple[DropFile, ...]:
        """Files of days ``first..last`` (inclusive, 1-based), in day then group order."""
        return tuple(f for f in self.files if first <= f.day <= last)

    def paths(self, first: int = 1, last: int | None = None) -> tuple[Path, ...]:
        return tuple(f.path for f in self.for_days(first, self.days if last is None else last))

    def bad_rows(self, first: int = 1, last: int | None = None) -> int:
        """Rows planted bad in days ``first..last``: what ingestion of those days must quarantine."""
        return sum(f.bad_rows for f in self.for_days(first, self.days if last is None else last))

    def rows(self, group: str, first: int = 1, last: int | None = None) -> int:
        return sum(f.rows for f in self.for_days(first, self.days if last is None else last) if f.group == group)


def _timestamps(day_start: datetime, seconds: np.ndarray) -> pl.Series:
    start = np.datetime64(day_start.replace(tzinfo=None), "s")
    stamps = (start + seconds.astype("timedelta64[s]")).astype("datetime64[us]")
    return pl.Series("event_time", stamps).dt.replace_time_zone("UTC")


def _write(frame: pl.DataFrame, landing: Path, group: str, day: int, csv: bool,
           bad: tuple[tuple[str, str, object], ...], plant: np.random.Generator) -> DropFile:
    """Corrupt a few rows if asked, then write the day's file as CSV (ISO-8601 UTC text) or Parquet."""
    if csv:
        frame = frame.with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    else:  # a Parquet timestamp column cannot hold unparseable text
        bad = tuple(b for b in bad if b[0] != "unparseable_timestamp")
    kinds: list[str] = []
    if bad and frame.height:
        count = min(int(plant.integers(1, 4)), frame.height)
        rows = plant.choice(frame.height, size=count, replace=False)
        for row, pick in zip(rows, plant.choice(len(bad), size=count), strict=True):
            kind, column, value = bad[int(pick)]
            frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == int(row)).then(pl.lit(value))
                                       .otherwise(pl.col(column)).cast(frame.schema[column]).alias(column))
            kinds.append(kind)
    folder = landing / group
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"day_{day:03d}.{'csv' if csv else 'parquet'}"
    if csv:
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    return DropFile(group, day, path, frame.height, tuple(kinds))


def generate_demo(landing: Path, *, seed: int = 7, customers: int = 1500, days: int = 90, shift_day: int = 60,
                  start: date = date(2026, 1, 1)) -> DemoDrop:
    """Write the demo's drops under ``landing/<group>/day_NNN.{csv,parquet}`` and describe them."""
    if customers < 1 or days < 1 or shift_day < 0 or customers > 999_999:
        raise InputError(f"demo of {customers} customers over {days} days shifting after day {shift_day} is impossible",
                         hint="use 1 <= customers <= 999999, days >= 1 and shift_day >= 0 (>= days: no shift)")
    landing = Path(landing)
    rng = np.random.default_rng(seed)
    plant = np.random.default_rng([seed, 0xBAD])  # its own stream: planting never changes the clean rows
    n = customers
    ids = np.array([f"C{i:06d}" for i in range(1, n + 1)])
    propensity = rng.normal(0.0, 1.0, n)
    base_sessions = np.exp(rng.normal(1.2, 0.3, n))
    main_device = rng.choice(3, size=n, p=[0.55, 0.30, 0.15])
    plan = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    region = rng.integers(0, 4, n)
    tenure0 = np.minimum(rng.exponential(420.0, n), 19_000).astype(np.int64)
    addon = rng.gamma(2.0, 0.15, n)
    failures = np.minimum(rng.poisson(0.3 * np.exp(0.5 * propensity)), 20)
    # Some customers start to disengage at a random day: their risk then climbs steadily.
    onset = np.where(rng.random(n) < 1 / (1 + np.exp(-(propensity - 0.3))), rng.integers(1, days + 40, n), 10**6)
    risk = 0.7 * propensity + rng.normal(0, 0.3, n)
    churn_day = np.full(n, 10**6)
    billing_due = np.ones(n, dtype=bool)  # everyone's billing state is stated on day 1
    weekday = rng.integers(0, 7, n)
    files: list[DropFile] = []
    for day in range(1, days + 1):
        after = day > shift_day
        midnight = datetime(start.year, start.month, start.day, tzinfo=timezone.utc) + timedelta(days=day - 1)
        # Churn is decided at the start of the day from yesterday's state; churned customers go silent.
        active = churn_day > day
        logit = (-6.6 + 2.0 * risk + (0.55 if after else 0.22) * failures + 0.45 * (plan == 0)
                 - 0.35 * (tenure0 + day > 365))
        churn_day[active & (rng.random(n) < 1 / (1 + np.exp(-logit)))] = day
        active = churn_day > day
        risk = 0.95 * risk + 0.05 * 0.7 * propensity + rng.normal(0, 0.12, n) + 0.05 * (day >= onset)
        if after and day == shift_day + 1:  # the app launches: many adopt mobile as their main device
            main_device = np.where(rng.random(n) < 0.6, 1, main_device)
        device = np.where(rng.random(n) < 0.85, main_device, rng.integers(0, 3, n))
        mobile_lift = np.where(device == 1, 1.9 if after else 0.8, 1.0)
        sessions = np.minimum(rng.poisson(base_sessions * np.exp(-0.8 * risk) * mobile_lift), 500)
        per_session = np.where(device == 1, 3.2 if after else 6.0, np.where(device == 2, 7.0, 9.0))
        minutes = np.minimum(sessions * per_session * rng.lognormal(0, 0.25, n), 1440.0).round(1)
        pages = np.where(sessions > 0, np.minimum(rng.gamma(4.0, np.where(device == 1, 0.8, 1.1)), 1000.0), np.nan)
        tickets = np.minimum(rng.poisson(0.08 * np.exp(1.0 * risk)), 50)
        # Billing changes: payment failures, plan moves (down when at risk, up otherwise), the price rise.
        failed = rng.random(n) < 0.004 * np.exp(0.8 * risk) * (1.6 if after else 1.0)
        failures = np.minimum(failures + failed, 20)
        moved = rng.random(n) < 0.003
        plan = np.where(moved, np.clip(plan + np.where(risk > 0.5, -1, 1), 0, 2), plan)
        billing_due |= failed | moved | ((day - 1) % 7 == weekday) | (day == shift_day + 1)
        is_csv = day % 2 == 1
        activity = pl.DataFrame({
            "customer_id": ids[active],
            "event_time": _timestamps(midnight, (22 * 3600 + rng.integers(0, 7200, n))[active]),
            "sessions": sessions[active].astype(np.int64), "minutes_active": minutes[active],
            "pages_per_session": pl.Series(pages[active].round(2), nan_to_null=True),
            "support_tickets": tickets[active].astype(np.int64), "device": np.array(DEVICES)[device[active]]})
        planted = day % 9 == 4 or day % 13 == 6
        files.append(_write(activity, landing, ACTIVITY, day, is_csv, BAD_ACTIVITY if planted else (), plant))
        due = billing_due & active
        price = np.array(PRICES)[plan] * (1.3 if after else 1.0)
        spend = np.minimum(price * (1 + addon) * rng.lognormal(0, 0.04, n), 10_000).round(2)
        billing = pl.DataFrame({
            "customer_id": ids[due],
            "event_time": _timestamps(midnight, (6 * 3600 + rng.integers(0, 12 * 3600, n))[due]),
            "plan": np.array(PLANS)[plan[due]], "monthly_spend": spend[due],
            "payment_failures": failures[due].astype(np.int64),
            "tenure_days": (tenure0[due] + day - 1).astype(np.int64), "region": np.array(REGIONS)[region[due]]})
        billing_due[:] = False
        files.append(_write(billing, landing, BILLING, day, not is_csv, BAD_BILLING if day % 15 == 8 else (), plant))
        label_day = day - LABEL_HORIZON_DAYS  # the outcome of a label time is known 14 days later
        if label_day >= LABEL_EVERY_DAYS and label_day % LABEL_EVERY_DAYS == 0:
            at_risk = churn_day > label_day
            label_time = midnight - timedelta(days=LABEL_HORIZON_DAYS, minutes=-(23 * 60 + 30))
            labels = pl.DataFrame({
                "customer_id": ids[at_risk],
                "event_time": _timestamps(label_time, np.zeros(int(at_risk.sum()), np.int64)),
                "churned": (churn_day[at_risk] <= day).astype(np.int64)})
            files.append(_write(labels, landing, LABELS, day, is_csv, (), plant))
    return DemoDrop(landing, seed, customers, days, shift_day, start, tuple(files),
                    churned_customers=int((churn_day <= days).sum()))

