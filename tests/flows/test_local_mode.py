"""Local mode's Prefect settings: no flow-run heartbeats against the temporary server."""

from __future__ import annotations

from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from flows.local import local_settings


def test_no_heartbeats_against_the_temporary_server() -> None:
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 180}, restore_defaults={PREFECT_API_URL}):
        assert PREFECT_API_URL.value() is None  # no server configured: flows start a temporary one
        with local_settings():
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == 180


def test_a_real_server_keeps_prefects_heartbeats() -> None:
    updates = {PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 180}
    with temporary_settings(updates=updates):
        with local_settings():
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == 180
