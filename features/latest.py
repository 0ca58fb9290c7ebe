"""Latest feature values per entity, for batch scoring.

:func:`latest_features` answers "what would a training set have seen for each entity at ``as_of``":
per group, the row with the latest event time at or before ``as_of`` (duplicates resolved by the
latest ``_ingested_at``, as everywhere), null when that row is older than the group's TTL. Groups
are full-outer-joined on their entity keys in one DuckDB query over the snapshots' Parquet files,
so an entity seen by any group gets a row and the columns match a :class:`~features.training_set.TrainingSet`'s
feature columns in name, order and type, ready for a model trained on one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

import polars as pl

from driftline.errors import ContractError, InputError
from features.contracts import FeatureGroupContract
from features.snapshot import GroupSnapshot
from features.training_set import group_sql, quote, resolve, run_query, utc


def _check(groups: Sequence[FeatureGroupContract]) -> tuple[str, ...]:
    """The shared entity keys; every group must use them, and feature names must be unique."""
    keys = groups[0].entity_keys
    owner: dict[str, str] = {}
    for group in groups:
        if group.entity_keys != keys:
            raise ContractError(f"feature group {group.name!r} is keyed by {list(group.entity_keys)}, "
                                f"group {groups[0].name!r} by {list(keys)}",
                                hint="score groups that share one entity key")
        if group.name in owner.values():
            raise ContractError(f"feature group {group.name!r} is given twice", hint="pass each group's snapshot once")
        for column in group.feature_columns:
            if column in owner or column in keys:
                raise ContractError(f"column {column!r} is defined by both {owner.get(column, 'the keys')!r} "
                                    f"and {group.name!r}", hint="rename the column in one of the two contracts")
            owner[column] = group.name
    return keys


def latest_features(features: Sequence[GroupSnapshot], contracts: Mapping[str, FeatureGroupContract], *,
                    as_of: datetime | None = None) -> pl.DataFrame:
    """One row per entity with each group's latest value at or before ``as_of`` (default: now, UTC).

    Columns: the entity keys, then every group's feature columns in the order given; sorted by keys.
    An entity whose every value is missing or expired at ``as_of`` has no row.
    """
    if not features:
        raise InputError("no feature group was given to read latest values from",
                         hint="pass the snapshots of the groups the model was trained on")
    groups = [resolve(s, contracts) for s in features]
    keys = _check(groups)
    moment = utc(as_of) if as_of is not None else datetime.now(timezone.utc)
    params: dict[str, object] = {}
    ctes, parts = [], []
    for i, (snapshot, group) in enumerate(zip(features, groups, strict=True), start=1):
        t = f"CAST({quote(group.event_time)} AS TIMESTAMPTZ)"
        where = f"WHERE {t} <= $as_of"
        if group.ttl is not None:  # expired values are filtered before picking, so an older one never wins
            where += f" AND {t} >= $as_of - to_microseconds({int(group.ttl / timedelta(microseconds=1))})"
        if snapshot.files:
            params[f"f{i}"] = list(snapshot.files)
            params["as_of"] = moment
        sql = group_sql(group, f"f{i}", bool(snapshot.files), (*keys, *group.feature_columns), f"__t{i}",
                        where, latest_only=True)
        ctes.append(f"g{i} AS ({sql})")
        parts.append(f"g{i}")
    using = ", ".join(quote(k) for k in keys)
    # FULL JOIN ... USING merges the key columns, so a key seen by any one group is filled in.
    joined = parts[0] + "".join(f" FULL JOIN {p} USING ({using})" for p in parts[1:])
    columns = [quote(k) for k in keys] + [quote(c) for g in groups for c in g.feature_columns]
    query = f"WITH {', '.join(ctes)} SELECT {', '.join(columns)} FROM {joined} ORDER BY {using}"
    return run_query(query, params, [s.group for s in features])


def latest_event_times(features: Sequence[GroupSnapshot], contracts: Mapping[str, FeatureGroupContract], *,
                       as_of: datetime, name: str = "feature_time") -> pl.DataFrame:
    """Per entity, the newest event time of the rows :func:`latest_features` reads at ``as_of``
    (the newest over the groups, TTL applied): the time of the features a batch score was made on.

    Columns: the entity keys, then ``name``. Label matching starts from it, so a label stamped with
    the time of the features it labels (a common layout) answers the score made on them.
    """
    groups = [resolve(s, contracts) for s in features]
    keys = _check(groups)
    moment = utc(as_of)
    params: dict[str, object] = {}
    parts = []
    for i, (snapshot, group) in enumerate(zip(features, groups, strict=True), start=1):
        t = f"CAST({quote(group.event_time)} AS TIMESTAMPTZ)"
        where = f"WHERE {t} <= $as_of"
        if group.ttl is not None:
            where += f" AND {t} >= $as_of - to_microseconds({int(group.ttl / timedelta(microseconds=1))})"
        if snapshot.files:
            params[f"f{i}"] = list(snapshot.files)
            params["as_of"] = moment
        sql = group_sql(group, f"f{i}", bool(snapshot.files), keys, "__t", where, latest_only=True)
        parts.append(f"SELECT * FROM ({sql})")
    using = ", ".join(quote(k) for k in keys)
    query = (f"SELECT {using}, max(__t) AS {quote(name)} FROM ({' UNION ALL '.join(parts)}) "
             f"GROUP BY {using} ORDER BY {using}")
    return run_query(query, params, [s.group for s in features])
