"""driftline.data.arrived comes from the watcher and from ingesting a named file; only the
watcher's starts an ingestion, so announcing a file being ingested cannot ingest it twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.triggers import DATA_ARRIVED, triggers_for


def test_only_the_watchers_arrivals_trigger_ingestion() -> None:
    watcher = {"prefect.resource.id": "driftline.file.ab", "driftline.origin": "watcher"}
    named = {"prefect.resource.id": "driftline.file.ab", "driftline.origin": "ingest"}
    assert [t.flow for t in triggers_for(DATA_ARRIVED, watcher)] == ["ingest"]
    assert triggers_for(DATA_ARRIVED, named) == []


@pytest.mark.flow
def test_ingesting_a_named_file_announces_it_once_and_ingests_it_once(prefect_harness, tmp_path: Path,
                                                                      monkeypatch) -> None:
    from flows.events import local_bus
    from flows.ingest import ingest_flow

    home = tmp_path / "home"
    monkeypatch.setenv("DRIFTLINE_HOME", str(home))
    drop = home / "landing" / "customer_billing" / "d1.csv"
    drop.parent.mkdir(parents=True)
    drop.write_text("customer_id,event_time,plan,monthly_spend,payment_failures,tenure_days,region\n"
                    "C000001,2026-01-01T00:00:00Z,basic,10.5,0,30,north\n")
    with local_bus() as bus:
        reports = ingest_flow(paths=[str(drop)])
        queued = list(bus.queue)
    assert [r.status for r in reports] == ["stored"]
    arrived = [e for e in queued if e.event == DATA_ARRIVED]
    assert len(arrived) == 1 and arrived[0].payload["paths"] == [str(drop.resolve())]
    assert arrived[0].resource["driftline.origin"] == "ingest"
    # the announcement re-ingests nothing: no queued event matches the ingest trigger
    assert all(t.flow != "ingest" for e in queued for t in triggers_for(e.event, e.resource))
