"""Rows that arrived in a time window, joined per entity as a training set joins them.

The drift monitor compares a window with the reference profile of the training rows. Training rows
are label events, each joined with every feature group's value known at its time; so the window is
the feature rows whose event time falls in ``[since, until)``, each taken as an event in the same
way: :func:`arrived_rows` takes the distinct (entity keys, event time) pairs of every group's rows
in the window and ``ASOF``-joins each group at that time, the group's TTL applied, in one DuckDB
query over the snapshots' Parquet files. An entity that sent one row in the window gives one row,
however many older rows it has: the window is the population that arrived in it, never every
entity's latest row (which, on event-style data with no TTL, is mostly old rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl

from driftline.errors import InputError
from features.contracts import FeatureGroupContract
from features.latest import _check as check_groups  # the same rule: shared keys, unique feature names
from features.snapshot import GroupSnapshot
from features.training_set import group_sql, quote, resolve, run_query, utc


def arrived_rows(features: Sequence[GroupSnapshot], contracts: Mapping[str, FeatureGroupContract], *,
                 since: datetime, until: datetime) -> pl.DataFrame:
    """One row per (entity keys, event time) that some group holds in ``[since, until)``.

    Columns: the entity keys, the first group's event-time column, then every group's feature
    columns in the order given (a training set's feature columns, in name, order and type); each
    value is the group's latest at or before the row's time, null when older than its TTL.
    Sorted by time, then keys.
    """
    if not features:
        raise InputError("no feature group was given to read the window from",
                         hint="pass the snapshots of the groups the model was trained on")
    if utc(since) >= utc(until):
        raise InputError(f"the window [{since.isoformat()}, {until.isoformat()}) is empty: since is not before until",
                         hint="give --since earlier than --until")
    groups = [resolve(s, contracts) for s in features]
    keys = check_groups(groups)
    time_name = groups[0].event_time
    params: dict[str, object] = {}
    if any(s.files for s in features):
        params |= {"since": utc(since), "until": utc(until)}
    ctes, arrivals, joins = [], [], []
    select = [f"s.{quote(k)}" for k in keys] + [f"s.__t AS {quote(time_name)}"]
    for i, (snapshot, group) in enumerate(zip(features, groups, strict=True), start=1):
        t_alias, t = f"__t{i}", f"CAST({quote(group.event_time)} AS TIMESTAMPTZ)"
        if snapshot.files:
            params[f"f{i}"] = list(snapshot.files)
        columns = (*keys, *group.feature_columns)
        window = group_sql(group, f"f{i}", bool(snapshot.files), keys, t_alias,
                           f"WHERE {t} >= $since AND {t} < $until")
        ctes.append(f"w{i} AS ({window})")
        # Values after the window cannot be joined (ASOF looks back), so they are not read.
        before_end = group_sql(group, f"f{i}", bool(snapshot.files), columns, t_alias, f"WHERE {t} < $until")
        ctes.append(f"g{i} AS ({before_end})")
        arrivals.append(f"SELECT {', '.join(quote(k) for k in keys)}, {quote(t_alias)} AS __t FROM w{i}")
        on = " AND ".join([f"s.{quote(k)} = g{i}.{quote(k)}" for k in keys] + [f"s.__t >= g{i}.{quote(t_alias)}"])
        joins.append(f"ASOF LEFT JOIN g{i} ON {on}")
        fresh = "true" if group.ttl is None else (
            f"g{i}.{quote(t_alias)} >= s.__t - to_microseconds({group.ttl // timedelta(microseconds=1)})")
        select += [f"CASE WHEN {fresh} THEN g{i}.{quote(c)} END AS {quote(c)}" for c in group.feature_columns]
    ctes.append(f"s AS (SELECT DISTINCT * FROM ({' UNION ALL '.join(arrivals)}))")
    order = ", ".join([quote(time_name), *(quote(k) for k in keys)])
    query = f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM s {' '.join(joins)} ORDER BY {order}"
    return run_query(query, params, [s.group for s in features])
