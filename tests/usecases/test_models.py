"""Declared model specs: round trip, the demo's spec, validation with one-line hints, a kill test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driftline.errors import ConfigError, NotFoundError
from driftline.settings import Settings, load_settings
from features.contracts import ColumnSpec, FeatureGroupContract, contracts_in_use
from usecases.models import (DEMO_SPEC, SPEC_FAULT, ModelSpec, check_against_contracts, declared_models, load_spec,
                             merge_overrides, resolve_spec, save_spec, spec_from_flags, spec_settings)

REPO = Path(__file__).resolve().parents[2]

FULL = ModelSpec(
    name="upsell", task="multiclass", label_group="accounts", label_column="tier", feature_groups=("accounts",),
    exclude=("account_id_copy", 'odd "name"'), metric="macro_f1", gate={"min_accuracy": 0.6, "slice_columns": ["plan"]},
    drift={"window_days": 14}, holdout_fraction=0.25, budget_s=90.5, trials=7, schedule="0 3 * * 1",
    as_known=False, approval=True, approvers=("ana", "bo"), approval_timeout_hours=48.5,
    intended_use='Rank accounts for "upsell" calls.\nNot <script>alert(1)</script> | a credit decision.',
    limitations="Trained on EU accounts only;\tsmall plans are rare.")


def _contract(name: str, keys: tuple[str, ...], *cols: str) -> FeatureGroupContract:
    columns = [ColumnSpec(k, "string", nullable=False) for k in keys]
    columns += [ColumnSpec("event_time", "timestamp", nullable=False)] + [ColumnSpec(c, "float64") for c in cols]
    return FeatureGroupContract(name=name, version=1, entity_keys=keys, event_time="event_time", columns=tuple(columns))


CONTRACTS = {"accounts": _contract("accounts", ("account_id",), "tier", "spend", "account_id_copy"),
             "usage": _contract("usage", ("account_id",), "logins"),
             "stores": _contract("stores", ("store_id",), "area")}


def test_round_trip_through_toml_and_dict(tmp_path: Path) -> None:
    for spec in (FULL, DEMO_SPEC):
        assert ModelSpec.from_dict(spec.to_dict()) == spec
        assert load_spec(save_spec(spec, tmp_path)) == spec
    assert (tmp_path / "upsell.toml").read_text().count("[gate]") == 1


def test_the_demo_spec_is_exactly_the_demo_settings_and_contracts() -> None:
    s = Settings()
    assert (DEMO_SPEC.name, DEMO_SPEC.label_group, DEMO_SPEC.feature_groups) == (
        s.model_name, s.label_group, s.feature_groups)
    contracts = contracts_in_use(None, None)
    check_against_contracts(DEMO_SPEC, contracts)
    labels = contracts[DEMO_SPEC.label_group]
    assert (DEMO_SPEC.label_column, DEMO_SPEC.task) == (labels.label, labels.task)
    # The demo's settings are unchanged by its spec: nothing overridden but what the defaults say.
    assert load_settings(**spec_settings(DEMO_SPEC)) == s


def test_canonical_bytes_are_stable_and_differ_per_spec() -> None:
    assert FULL.canonical() == ModelSpec.from_dict(FULL.to_dict()).canonical()
    assert FULL.canonical() != DEMO_SPEC.canonical()
    assert FULL.canonical().startswith(b'{"approval":true')


def test_card_texts_leave_older_specs_canonical_bytes_unchanged() -> None:
    # Every version signs its spec's canonical bytes: a spec without card texts keeps the bytes
    # it had before the fields existed (this literal is the demo spec's as v0.2 wrote it).
    assert DEMO_SPEC.canonical() == (
        b'{"approval":false,"approvers":[],"as_known":false,"exclude":[],"feature_groups":'
        b'["customer_activity","customer_billing"],"label_column":"churned","label_group":"churn_labels",'
        b'"name":"churn","task":"binary"}')
    assert b'"intended_use":"Rank accounts' in FULL.canonical()


@pytest.mark.parametrize("change, found", [
    ({"intended_use": "   "}, "intended_use must be non-blank text"),
    ({"limitations": 3}, "limitations must be non-blank text"),
    ({"intended_use": "x" * 4001}, "intended_use is 4001 characters long, over 4000"),
    ({"limitations": "bell\x07 and nul\x00"}, "control character(s) U+0000, U+0007"),
])
def test_bad_card_texts_are_refused_with_a_hint(change: dict[str, object], found: str) -> None:
    with pytest.raises(ConfigError) as err:
        ModelSpec.from_dict({**FULL.to_dict(), **change})
    assert found in str(err.value) and err.value.hint


@pytest.mark.parametrize("change, found", [
    ({"task": "ranking"}, "unknown task 'ranking'"),
    ({"name": "../evil"}, "not a valid model name"),
    ({"feature_groups": ()}, "has no feature groups"),
    ({"feature_groups": "accounts"}, "must be a list of names"),
    ({"gate": {"min_auc": 0.7, "min_aucc": 1}}, "unknown gate setting(s) min_aucc"),
    ({"drift": {"psi": 1}}, "unknown drift setting(s) psi"),
    ({"holdout_fraction": 1.5}, "holdout_fraction 1.5"),
    ({"budget_s": 0}, "budget_s 0"),
    ({"trials": 0}, "trials 0"),
    ({"schedule": "daily"}, "not a cron expression"),
    ({"exclude": ("tier",)}, "label column 'tier' is in exclude"),
    ({"approvers": ("ana",), "approval": False}, "approval is false"),
    ({"approval": "yes"}, "approval 'yes' is not true or false"),
    ({"approvers": ("ana", "ana")}, "an approver is listed twice"),
    ({"approval_timeout_hours": 0}, "approval_timeout_hours 0"),
    ({"approval_timeout_hours": "72"}, "approval_timeout_hours '72'"),
    ({"approval": False, "approvers": (), "approval_timeout_hours": 5}, "approval_timeout_hours 5"),
])
def test_a_malformed_spec_is_refused_with_a_hint(change: dict[str, object], found: str) -> None:
    data = {**FULL.to_dict(), **change}
    with pytest.raises(ConfigError) as err:
        ModelSpec.from_dict(data)
    assert found in str(err.value) and err.value.hint and "\n" not in str(err.value)


@pytest.mark.parametrize("change, found", [
    ({"label_group": "labels"}, "label group 'labels' has no contract"),
    ({"label_column": "churn"}, "label column 'churn' is not in the contract of 'accounts'"),
    ({"feature_groups": ("usage", "gone")}, "feature group 'gone' has no contract"),
    ({"feature_groups": ("usage", "stores")}, "feature group 'stores' is keyed by ['store_id']"),
    ({"exclude": ("nope",)}, "excluded column(s) nope are in none of its groups"),
])
def test_a_spec_its_contracts_cannot_serve_is_refused(change: dict[str, object], found: str) -> None:
    spec = ModelSpec.from_dict({**FULL.to_dict(), "exclude": ["account_id_copy"], **change})
    with pytest.raises(ConfigError) as err:
        check_against_contracts(spec, CONTRACTS)
    assert found in str(err.value) and err.value.hint


def test_check_passes_a_flat_table_and_a_joined_one() -> None:
    flat = spec_from_flags("flat", group="accounts", label="tier", task="regression", exclude=["account_id_copy"])
    assert flat.feature_groups == ("accounts",)
    check_against_contracts(flat, CONTRACTS)
    check_against_contracts(spec_from_flags("joined", group="accounts", label="tier", task="binary",
                                            features=["accounts", "usage"]), CONTRACTS)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("name = 'a'\ntask = \n")
    (tmp_path / "b.toml").write_text("name = 'c'\ntask = 'binary'\nlabel_group = 'g'\nlabel_column = 'y'\n")
    (tmp_path / "d.toml").write_text("name = 'd'\ntask = 'binary'\nlabel_group = 'g'\nlabel_colum = 'y'\n")
    (tmp_path / "e.toml").write_text("name = 'e'\ntask = 'binary'\nlabel_group = 'g'\n")
    for name, found in (("a", "not valid TOML"), ("b", "declares model 'c'"), ("d", "unknown field(s) label_colum"),
                        ("e", "lacks label_column")):
        with pytest.raises(ConfigError, match=None) as err:
            load_spec(tmp_path / f"{name}.toml")
        assert found in str(err.value) and err.value.hint
    with pytest.raises(NotFoundError):
        load_spec(tmp_path / "missing.toml")


def test_declared_models_and_resolution(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert declared_models(models) == (DEMO_SPEC,)  # nothing declared: the demo's model
    assert resolve_spec(models, "churn") == DEMO_SPEC
    with pytest.raises(NotFoundError, match="'upsell' is not declared"):
        resolve_spec(models, "upsell")
    save_spec(FULL, models)
    assert declared_models(models) == (FULL,)  # declared models replace the demo's default
    assert resolve_spec(models, "upsell") == FULL
    custom_churn = ModelSpec.from_dict({**DEMO_SPEC.to_dict(), "trials": 3})
    save_spec(custom_churn, models)
    assert declared_models(models) == (custom_churn, FULL)
    assert resolve_spec(models, "churn") == custom_churn


def test_task_from_the_contract_when_no_flag() -> None:
    assert spec_from_flags("m", group="g", label="y", contract_task="binary").task == "binary"
    assert spec_from_flags("m", group="g", label="y", task="regression", contract_task="binary").task == "regression"
    with pytest.raises(ConfigError, match="no task given"):
        spec_from_flags("m", group="g", label="y")


def test_settings_from_a_spec_with_run_flags_on_top() -> None:
    merged = merge_overrides(spec_settings(FULL), {"training": {"n_trials": 2}})
    s = load_settings(**merged)
    assert (s.model_name, s.label_group, s.feature_groups) == ("upsell", "accounts", ("accounts",))
    assert (s.training.n_trials, s.training.timeout_s, s.training.holdout_fraction) == (2, 90.5, 0.25)
    assert (s.gate.min_accuracy, s.gate.slice_columns, s.gate.min_auc) == (0.6, ("plan",), 0.65)
    assert s.drift.window_days == 14


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from usecases.models import ModelSpec, save_spec, DEMO_SPEC
    save_spec(ModelSpec.from_dict({**DEMO_SPEC.to_dict(), "trials": 9}), Path(sys.argv[1]))
""")


def test_kill_while_saving_leaves_the_old_spec_whole(tmp_path: Path) -> None:
    save_spec(DEMO_SPEC, tmp_path)
    env = {**os.environ, "DRIFTLINE_FAULT": SPEC_FAULT, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert declared_models(tmp_path) == (DEMO_SPEC,)
    env.pop("DRIFTLINE_FAULT")
    assert subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=env).returncode == 0
    assert load_spec(tmp_path / "churn.toml").trials == 9
