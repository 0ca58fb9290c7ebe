"""A declared positive class is checked against the label's contract before the spec is saved:
one of its allowed values, or of a bool's true/false (yes/no are read as a bool); a label the
contract does not enumerate is left to training. And the threshold ``predict`` and the server decide
at is the one the signed schema holds (trained versions never had one in ``metrics``)."""

from __future__ import annotations

import pytest

from driftline.errors import ConfigError
from features.contracts import ColumnSpec, FeatureGroupContract
from tests.usecases.small import tiny_fit
from usecases.models import check_against_contracts, spec_from_flags
from usecases.predict_file import decision_threshold


def _contracts(label: ColumnSpec) -> dict[str, FeatureGroupContract]:
    columns = (ColumnSpec("account_id", "string", nullable=False), ColumnSpec("day", "timestamp", nullable=False),
               ColumnSpec("x", "float64"), label)
    return {"accounts": FeatureGroupContract("accounts", 1, ("account_id",), "day", columns)}


def _check(label: ColumnSpec, positive: str) -> None:
    spec = spec_from_flags("m", group="accounts", label=label.name, task="binary", positive=positive)
    check_against_contracts(spec, _contracts(label))


def test_a_positive_outside_the_allowed_values_is_refused_naming_them() -> None:
    label = ColumnSpec("churned", "string", allowed=("left", "stayed"))
    _check(label, "left")
    with pytest.raises(ConfigError, match=r"positive class 'Left' is not one of .*'left', 'stayed'") as caught:
        _check(label, "Left")  # exact, as training compares
    assert "--positive stayed" in caught.value.hint


def test_a_bool_label_takes_true_or_false_and_says_yes_no_are_read_as_bool() -> None:
    label = ColumnSpec("churned", "bool")
    _check(label, "true")
    _check(label, "False")
    with pytest.raises(ConfigError, match=r"'false', 'true' .*bool column: yes/no are stored as true/false"):
        _check(label, "yes")


def test_a_label_the_contract_does_not_enumerate_is_left_to_training() -> None:
    _check(ColumnSpec("churned", "string"), "anything")
    _check(ColumnSpec("churned", "int64"), "2")


def test_the_decision_threshold_is_the_schemas_then_the_metadatas() -> None:
    assert decision_threshold(tiny_fit().with_threshold(0.7), {"metrics": {"auc": 0.9}}) == 0.7
    assert decision_threshold(tiny_fit().with_threshold(0.7), {"metrics": {"threshold": 0.2}}) == 0.7
    assert decision_threshold(tiny_fit(), {"metrics": {"threshold": 0.2}}) == 0.2
    assert decision_threshold(tiny_fit(), {}) is None
