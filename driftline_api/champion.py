"""A verified champion in a notebook: ``home.champion("churn").predict(frame)``.

:class:`Champion` holds a model version that the registry loaded *verified* (its alias file's
signature, the version's files against their signed digests, a trusted and unrevoked key, status
``accepted``; anything else raised an ``IntegrityError`` before this object existed). Its
:meth:`Champion.predict` scores a frame exactly as batch scoring (``python -m flows score``) scores
the store's latest rows: every feature is first checked against the model's schema
(:func:`usecases.predict_file.typed_features`, a one-line ``InputError`` naming the column and row),
then :func:`usecases.score.predict`, :func:`usecases.score.row_scores` and
:func:`usecases.score.decisions` give the ``score`` column (P(class 1), the predicted class's
probability, or the value) and the task's decision columns (``decision`` at a binary model's stored
threshold, with ``predicted_class`` when its label is two values other than 0/1 such as yes/no;
``predicted_class`` for a multiclass one; none for regression). Same functions, same
rows: the same numbers, bit for bit (``tests/api/test_train_and_predict.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftline.errors import InputError

if TYPE_CHECKING:  # LightGBM, polars and the store: loaded when a champion is, not on ``import driftline_api``
    from training.model import TrainedModel

SCORE = "score"  # features.predictions.SCORE, the batch's column (a test holds them equal)


@dataclass(frozen=True)
class Champion:
    """A model version loaded verified, ready to score frames.

    ``task`` is the model's (binary, multiclass, regression); ``threshold`` a binary model's decision
    threshold (None: 0.5, as scoring uses for a model saved without one); ``features`` the columns a
    frame must hold; ``metadata`` the version's signed lineage, read only.
    """

    model: str
    version: int
    task: str
    threshold: float | None
    features: tuple[str, ...]
    metadata: Mapping[str, Any] = field(repr=False)
    trained: TrainedModel = field(repr=False, compare=False)

    @classmethod
    def of(cls, model: str, version: int, metadata: Mapping[str, Any], trained: TrainedModel) -> Champion:
        schema = trained.schema
        return cls(model=model, version=version, task=trained.task, threshold=schema.threshold,
                   features=tuple(schema.features), metadata=metadata, trained=trained)

    @property
    def decision_columns(self) -> tuple[str, ...]:
        """The columns :meth:`predict` appends after ``score``, by task."""
        if self.task == "binary" and self.trained.schema.names_decisions:
            return ("decision", "predicted_class")  # a yes/no label: the decision in its values too
        return {"binary": ("decision",), "multiclass": ("predicted_class",)}.get(self.task, ())

    def predict(self, frame: Any) -> Any:
        """``frame`` (polars or pandas; pandas comes back as pandas) with ``score`` and the task's
        decision column appended. Extra columns are kept and ignored by the model; a missing
        feature, a value not of the trained type, or a column the predictions would overwrite is an
        :class:`~driftline.errors.InputError` naming it, and nothing is scored."""
        import polars as pl

        from driftline_api.frames import as_polars, like_input
        from usecases.predict_file import typed_features
        from usecases.score import decisions, predict, row_scores

        rows = as_polars(frame, f"{self.model} v{self.version}.predict")
        clash = [c for c in (SCORE, *self.decision_columns) if c in rows.columns]
        if clash:
            raise InputError(f"the frame already has column {clash[0]!r}, which the predictions would overwrite",
                             hint="rename or drop that column before predicting")
        typed = typed_features(rows, self.trained.schema, f"{self.model} v{self.version}")
        raw = predict(self.trained, typed)
        added = [pl.Series(SCORE, row_scores(self.trained, raw), dtype=pl.Float64)]
        added += [pl.Series(name, values) for name, values in decisions(self.trained, raw).items()]
        return like_input(rows.with_columns(added), frame)
