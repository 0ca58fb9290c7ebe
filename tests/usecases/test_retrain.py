"""The retrain decision: skip on an identical training set or no newer label, train on new labels;
the same model bytes as the champion's are caught; a skip's audit entry, and kill -9 around it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from driftline.errors import InputError
from governance.audit import AuditLog
from registry import layout
from tests.usecases.small import ACTOR
from usecases.retrain import (SKIPPED_ACTION, ChampionData, RetrainDecision, lineage_label_time, newest_label_time,
                              record_skip, same_model_bytes, should_retrain)

T = datetime(2026, 3, 1, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[2]


def champion(sha: str = "a" * 64, newest: datetime | None = T) -> ChampionData:
    return ChampionData(3, sha, newest)


def test_a_first_model_always_trains() -> None:
    assert should_retrain("a" * 64, T, None).train


def test_an_identical_training_set_is_skipped() -> None:
    decision = should_retrain("a" * 64, T + timedelta(days=1), champion())
    assert not decision.train and decision.champion_version == 3
    assert "identical to champion v3" in decision.reason


def test_a_changed_training_set_with_no_newer_label_is_skipped() -> None:
    # A feature re-statement changes the fingerprint; no label is newer than the champion's newest.
    for newest in (T, T - timedelta(seconds=1)):
        decision = should_retrain("b" * 64, newest, champion())
        assert not decision.train and "no label newer than champion v3" in decision.reason
    assert not should_retrain("b" * 64, None, champion()).train  # no labels at all


def test_new_labels_train() -> None:
    decision = should_retrain("b" * 64, T + timedelta(minutes=1), champion())
    assert decision.train and "newer than champion v3" in decision.reason
    # A champion registered before lineage recorded its newest label: a changed training set trains.
    assert should_retrain("b" * 64, T, champion(newest=None)).train


def test_champion_data_comes_from_the_lineage_and_bad_lineage_is_refused() -> None:
    data = {"data": {"training_set_sha256": "c" * 64, "newest_label_time": T.isoformat()}}
    assert ChampionData.from_lineage(2, data) == ChampionData(2, "c" * 64, T)
    assert ChampionData.from_lineage(2, {"data": {"training_set_sha256": "c" * 64}}).newest_label_time is None
    for bad in ({}, {"data": []}, {"data": {"training_set_sha256": 5}},
                {"data": {"training_set_sha256": "c" * 64, "newest_label_time": "yesterday"}}):
        with pytest.raises(InputError) as caught:
            ChampionData.from_lineage(2, bad)
        assert "champion v2" in str(caught.value) and caught.value.hint


def test_newest_label_time_is_utc_and_none_for_no_rows() -> None:
    frame = pl.DataFrame({"t": [T, T + timedelta(hours=2), T - timedelta(hours=1)]})
    assert newest_label_time(frame, "t") == T + timedelta(hours=2)
    assert newest_label_time(frame.head(0), "t") is None
    with pytest.raises(InputError, match="not timestamps"):
        newest_label_time(pl.DataFrame({"t": [1, 2]}), "t")
    assert lineage_label_time(frame, "t") == (T + timedelta(hours=2)).isoformat()
    assert lineage_label_time(pl.DataFrame({"t": [1, 2]}), "t") is None
    assert lineage_label_time(frame.head(0), "t") is None


def test_the_same_model_bytes_as_the_champion_are_caught(tmp_path: Path) -> None:
    (tmp_path / layout.MODEL).write_bytes(b"tree\n" * 10)
    assert same_model_bytes({layout.MODEL: b"tree\n" * 10}, tmp_path)
    assert not same_model_bytes({layout.MODEL: b"tree\n" * 10 + b"x"}, tmp_path)
    assert not same_model_bytes({layout.MODEL: b"tree\n"}, tmp_path / "gone")
    with pytest.raises(InputError, match="needs its"):
        same_model_bytes({"other.txt": b""}, tmp_path)


def test_a_skip_is_audited_with_its_reason(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit")
    decision = should_retrain("a" * 64, T, champion())
    record_skip(audit, "churn", decision, fingerprint="a" * 64, newest_label=T, trigger="drift: w1", actor=ACTOR)
    [entry] = list(audit.entries())
    assert entry.action == SKIPPED_ACTION and entry.subject == "model:churn"
    assert entry.details["reason"] == decision.reason and entry.details["champion_version"] == 3
    assert entry.details["trigger"] == "drift: w1" and entry.details["newest_label_time"] == T.isoformat()
    with pytest.raises(InputError, match="decision to train"):
        record_skip(audit, "churn", RetrainDecision(True, "new labels"), fingerprint="a", newest_label=None,
                    trigger="t", actor=ACTOR)


CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from governance.audit import AuditLog
    from tests.usecases.small import ACTOR
    from usecases.retrain import RetrainDecision, record_skip

    record_skip(AuditLog(Path(sys.argv[1])), "churn", RetrainDecision(False, "nothing new", 3), fingerprint="a" * 64,
                newest_label=datetime(2026, 3, 1, tzinfo=timezone.utc), trigger="drift: w1", actor=ACTOR)
""")


class _NoCheckpoints:
    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        raise AssertionError("no checkpoint was expected")


@pytest.mark.parametrize("point", ["retrain.skip", "audit.before_write", "retrain.skip_recorded"])
def test_a_kill_while_recording_a_skip_leaves_a_verifiable_trail_and_the_rerun_records_it(tmp_path, point) -> None:
    audit = AuditLog(tmp_path / "audit")
    audit.append("test.start", "x", {}, actor=ACTOR)
    env = {**os.environ, "DRIFTLINE_FAULT": point,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "audit")], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert AuditLog(tmp_path / "audit").verify(_NoCheckpoints()).ok
    before = [e.action for e in AuditLog(tmp_path / "audit").entries()].count(SKIPPED_ACTION)
    assert before == (1 if point == "retrain.skip_recorded" else 0)
    # The rerun (the idempotency ledger never recorded the event) decides again and records the skip.
    record_skip(AuditLog(tmp_path / "audit"), "churn", RetrainDecision(False, "nothing new", 3), fingerprint="a" * 64,
                newest_label=T, trigger="drift: w1", actor=ACTOR)
    assert [e.action for e in AuditLog(tmp_path / "audit").entries()].count(SKIPPED_ACTION) == before + 1


def test_identical_model_bytes_are_never_registered_twice(home: Path) -> None:
    # Registration is idempotent on the candidate (model bytes, training set, parameters); a retrain
    # whose fit gives the champion's bytes from another training set is caught before registration.
    from tasks.workspace import Workspace
    from tests.usecases.candidates import FILES, gate_report, lineage
    from usecases.registration import register_candidate

    ws = Workspace.open()
    first = register_candidate(ws, files=FILES, lineage=lineage(), report=gate_report())
    again = register_candidate(ws, files=dict(FILES), lineage=lineage(), report=gate_report())
    assert again.version == first.version and [v.version for v in ws.registry.versions("churn")] == [1]
    assert [e.action for e in ws.audit.entries()].count("model.register") == 1
    assert same_model_bytes(FILES, first.path)  # what retrain_if_new checks before registering anything


def test_the_champion_comes_verified_and_a_flipped_byte_in_its_lineage_is_refused(tmp_path: Path) -> None:
    from driftline.errors import IntegrityError
    from registry import KeyRing, ModelRegistry
    from tests.usecases.candidates import FILES, lineage
    from usecases.retrain import current_champion

    ring = KeyRing(tmp_path / "keys")
    ring.init(b"pass")
    registry = ModelRegistry(tmp_path / "registry", ring.trust, signer=lambda: ring.load(b"pass"))
    assert current_champion(registry, "churn") is None
    meta = {**lineage(), "data": {**lineage()["data"], "newest_label_time": T.isoformat()}}
    version = registry.register("churn", files=FILES, metadata=meta, status="accepted", key=ring.load(b"pass"))
    registry.promote("churn", version.version, actor="tester", reason="test")
    found = current_champion(registry, "churn")
    assert found is not None and found[1] == ChampionData(1, "f" * 64, T)
    # Rewrite the recorded fingerprint by one byte (as one would to force or block a retrain).
    path = version.path / layout.METADATA
    body = path.read_bytes()
    at = body.index(b'"training_set_sha256":"f') + len(b'"training_set_sha256":"')
    path.write_bytes(body[:at] + b"e" + body[at + 1:])
    with pytest.raises(IntegrityError) as caught:
        current_champion(registry, "churn")
    assert caught.value.hint
