"""The feature schema a model is trained on, and the one way frames become LightGBM matrices.

A :class:`FeatureSchema` records the feature names in order, the task, the label classes of a
multiclass model (string or integer labels, coded 0..k-1 in sorted order, so that predictions map
back to the labels the data uses), the (negative, positive) classes of a binary model whose label is
not coded 0/1 or true/false (:func:`binary_classes`: two strings such as FEMALE/MALE, or 1/2), the
decision threshold of a binary model (chosen on validation data, used by scoring), and for each
categorical column the sorted categories seen in training. Category ``i`` of that sorted list is
code ``i``; a category never seen in training, or a null, becomes a missing value, which LightGBM
routes down its learned missing-value branch. Search, final fit and scoring all build their matrices
through :meth:`FeatureSchema.matrix`, so a model is never fed codes from a different mapping. The
schema travels with the model as ``model_schema.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import polars as pl

from driftline.errors import TrainingError

SCHEMA_VERSION = 1
MEMO_ENTRIES = 64  # input shapes whose expressions a schema keeps (FeatureSchema.memo)
_T = TypeVar("_T")


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TrainingError(f"{what} column(s) {missing} are not in the frame (it has {frame.columns})",
                            hint="check the feature list against the training set")


def learn_categories(frame: pl.DataFrame, categorical: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """Sorted non-null categories of each categorical column; category i gets code i."""
    categories = {}
    for name in categorical:
        column = frame.get_column(name)
        if column.dtype in (pl.Categorical, pl.Enum):
            column = column.cast(pl.String)
        categories[name] = tuple(sorted(column.drop_nulls().unique().to_list()))
    return categories


def _values(column: pl.Series) -> list[Any]:
    if column.dtype in (pl.Categorical, pl.Enum):
        column = column.cast(pl.String)
    return sorted(column.drop_nulls().unique().to_list())


def _same(value: Any, given: Any) -> bool:
    # A positive class given on the command line is text: "2" names the integer label 2.
    if isinstance(value, bool):
        return str(value).lower() == str(given).lower()
    return bool(value == given) or str(value) == str(given)


def binary_classes(column: pl.Series, positive: Any = None) -> tuple[Any, ...]:
    """The (negative, positive) label values of a binary label, class 1 being ``positive``.

    A label coded 0/1 or true/false keeps no classes (it is read as it is, and the schema keeps the
    bytes older releases signed) unless ``positive`` names 0/false. Any other two-valued label (two
    strings, two other integers) gets classes; without ``positive`` the rule is the second of the two
    values in sorted order (MALE over FEMALE, "yes" over "no", 2 over 1), which `contract infer` and
    `train` print.
    """
    values = _values(column)
    coded = column.dtype == pl.Boolean or (column.dtype.is_integer() and set(values) <= {0, 1})
    if coded and (positive is None or _same(column.dtype == pl.Boolean or 1, positive)):
        return ()
    if coded:  # 0/false named positive: the classes of {0, 1} (or {false, true}) reversed
        values = [False, True] if column.dtype == pl.Boolean else [0, 1]
    shown = f"{[str(v) for v in values[:5]]}{' ...' if len(values) > 5 else ''}"
    if len(values) != 2:
        raise TrainingError(f"binary label {column.name!r} holds {len(values)} distinct value(s) {shown}, "
                            "a binary model needs exactly two",
                            hint="declare the model multiclass for more classes, or train on rows of both classes")
    if positive is None:
        return values[0], values[1]
    chosen = [i for i, v in enumerate(values) if _same(v, positive)]
    if len(chosen) != 1:
        raise TrainingError(f"positive class {positive!r} is not one of the label {column.name!r}'s values {shown}",
                            hint="name one of them with --positive (or positive = ... in the model spec)")
    return values[1 - chosen[0]], values[chosen[0]]


@dataclass(frozen=True)
class FeatureSchema:
    """What a model expects. ``FeatureSchema.from_dict(s.to_dict()) == s`` (round-trip law)."""

    features: tuple[str, ...]
    categories: Mapping[str, tuple[Any, ...]]  # categorical column -> sorted categories (code = index)
    task: str
    # multiclass label values, class i being column i of predict(); binary (negative, positive) or ()
    classes: tuple[Any, ...] = ()
    threshold: float | None = None  # binary: P(class 1) >= threshold decides positive

    def __post_init__(self) -> None:
        t = self.threshold
        if t is not None and (self.task != "binary" or isinstance(t, bool) or not isinstance(t, (int, float))
                              or not 0.0 <= t <= 1.0):
            raise TrainingError(f"decision threshold {t!r} does not fit a {self.task} model",
                                hint="only a binary model carries a threshold, in [0, 1]")

    @classmethod
    def fit(cls, frame: pl.DataFrame, *, features: Sequence[str], categorical: Sequence[str],
            label: str, task: str, positive: Any = None) -> FeatureSchema:
        """Learn the category codes (and multiclass or binary classes, see :func:`binary_classes`:
        ``positive`` is the binary label value that is class 1) from a training frame."""
        features = tuple(features)
        if len(set(features)) != len(features) or not features:
            raise TrainingError(f"feature list {list(features)} is empty or has duplicates",
                                hint="name each feature once")
        stray = [c for c in categorical if c not in features]
        if stray:
            raise TrainingError(f"categorical column(s) {stray} are not among the features",
                                hint="list every categorical column in features too")
        _require_columns(frame, (*features, label), "feature/label")
        categories = learn_categories(frame, categorical)
        classes: tuple[Any, ...] = ()
        if task == "multiclass":
            classes = tuple(sorted(frame.get_column(label).drop_nulls().unique().to_list()))
            if len(classes) < 3:
                raise TrainingError(f"label {label!r} has {len(classes)} classes for a multiclass task",
                                    hint="use task='binary' for two classes")
        elif task == "binary":
            classes = binary_classes(frame.get_column(label), positive)
        return cls(features, categories, task, classes)

    def memo(self, key: Hashable, build: Callable[[], _T]) -> _T:
        """``build()``, kept on this schema under ``key``: the polars expressions for one shape of input
        (its column types) are built once, not per request. For a served row, building them (category
        lists become literals) cost more than running them; an expression is immutable, so sharing
        it between threads is safe. At most :data:`MEMO_ENTRIES` shapes are kept."""
        plans: dict[Hashable, Any] = self.__dict__.setdefault("_memo", {})  # not a field: eq, repr, to_dict ignore it
        if key not in plans:
            if len(plans) >= MEMO_ENTRIES:
                plans.clear()
            plans[key] = build()
        return plans[key]  # type: ignore[no-any-return]

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """The float64 matrix of the features, categorical columns replaced by their codes."""
        _require_columns(frame, self.features, "feature")
        given = frame.schema
        dtypes = tuple(given[name] for name in self.features)
        if not all(self._numeric(name, dtype) for name, dtype in zip(self.features, dtypes, strict=True)):
            return self._matrix_by_column(frame)
        # One query for every column: each polars call costs tens of microseconds, which a served
        # single row pays per call (a column-by-column build was ~15% of a 1-row request).
        exprs = self.memo(("matrix", dtypes), lambda: [self._code(n, d) for n, d in zip(self.features, dtypes,
                                                                                         strict=True)])
        try:
            selected = frame.select(exprs)
        except pl.exceptions.PolarsError:
            return self._matrix_by_column(frame)  # the error the column-by-column build meets first
        # Nulls become NaN, LightGBM's missing value.
        return selected.to_numpy().astype(np.float64, copy=False)

    def _numeric(self, name: str, dtype: pl.DataType) -> bool:
        return name in self.categories or dtype.is_numeric() or dtype == pl.Boolean

    def _code(self, name: str, dtype: pl.DataType) -> pl.Expr:
        column = pl.col(name)
        if name in self.categories:
            if dtype in (pl.Categorical, pl.Enum):
                column = column.cast(pl.String)
            known = self.categories[name]
            column = column.replace_strict(list(known), list(range(len(known))), default=None,
                                           return_dtype=pl.Float64)
        return column.cast(pl.Float64)

    def _matrix_by_column(self, frame: pl.DataFrame) -> np.ndarray:
        """:meth:`matrix` one column at a time, on its error path: the first column at fault raises."""
        columns = []
        given = frame.schema
        for name in self.features:
            dtype = given[name]
            if not self._numeric(name, dtype):
                raise TrainingError(f"feature {name!r} has type {dtype}, not a number",
                                    hint="list it in categorical, or cast it to a number")
            columns.append(frame.select(self._code(name, dtype)).to_series())
        return pl.DataFrame(columns).to_numpy().astype(np.float64, copy=False)

    def categorical_indices(self) -> list[int]:
        return [i for i, name in enumerate(self.features) if name in self.categories]

    def labels(self, frame: pl.DataFrame, label: str) -> np.ndarray:
        """The label as LightGBM wants it: 0/1, class codes 0..k-1, or floats."""
        _require_columns(frame, (label,), "label")
        column = frame.get_column(label)
        if column.null_count():
            raise TrainingError(f"label {label!r} has {column.null_count()} null value(s)",
                                hint="drop unlabelled rows before training")
        if self.classes:  # multiclass, or binary (negative, positive): coded by position
            if column.dtype in (pl.Categorical, pl.Enum):
                column = column.cast(pl.String)
            unknown = set(column.unique().to_list()) - set(self.classes)
            if unknown:
                raise TrainingError(f"label {label!r} has classes {sorted(unknown)} unseen in training",
                                    hint="evaluate on classes the model was trained on")
            return column.replace_strict(list(self.classes), list(range(len(self.classes))),
                                         return_dtype=pl.Int64).to_numpy()
        if self.task == "binary":
            values = set(column.cast(pl.Int64, strict=False).unique().to_list())
            if not values <= {0, 1} or not (column.dtype == pl.Boolean or column.dtype.is_integer()):
                seen = sorted(map(str, column.unique().to_list()))  # as written, not as a failed cast
                raise TrainingError(f"binary label {label!r} holds {seen[:5]}{' ...' if len(seen) > 5 else ''}, "
                                    "not 0/1 or true/false",
                                    hint="this model was trained on 0/1 or true/false labels: evaluate it "
                                         "on those, or retrain on the two values (train --positive VALUE)")
            return column.cast(pl.Int64).to_numpy()
        if not column.dtype.is_numeric():
            raise TrainingError(f"regression label {label!r} has type {column.dtype}",
                                hint="use a numeric label")
        return column.cast(pl.Float64).to_numpy()

    def class_values(self, codes: np.ndarray) -> list[Any]:
        """The label values of class codes (the inverse of :meth:`labels`): 0..k-1 of a multiclass
        model, or a binary model's 0/1 decisions when it has classes (:attr:`names_decisions`)."""
        if self.task != "multiclass" and not self.names_decisions:
            raise TrainingError(f"a {self.task} model has no classes to decode",
                                hint="decode class codes of a multiclass model, or of a binary model trained "
                                     "on two label values other than 0/1 (train --positive VALUE)")
        return [self.classes[int(c)] for c in np.asarray(codes)]

    @property
    def names_decisions(self) -> bool:
        """Whether a binary model's 0/1 decision has label values to be told in (a ``predicted_class``):
        true when its label was not 0/1 or true/false as it is (two strings, two other integers, or 0
        named positive). A 0/1 label's decision is already its label value, and its outputs stay as
        they were."""
        return self.task == "binary" and len(self.classes) == 2

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.task == "multiclass" else 1

    def to_dict(self) -> dict[str, Any]:
        out = {"schema_version": SCHEMA_VERSION, "task": self.task, "features": list(self.features),
               "categories": {k: list(v) for k, v in sorted(self.categories.items())},
               "classes": list(self.classes)}
        # Only when set: a schema without a threshold keeps the bytes older releases wrote (and signed).
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise TrainingError(f"model schema version {data.get('schema_version')!r} is not supported",
                                hint=f"expected version {SCHEMA_VERSION}; retrain or upgrade driftline")
        return cls(tuple(data["features"]), {k: tuple(v) for k, v in data["categories"].items()},
                   data["task"], tuple(data["classes"]), data.get("threshold"))
