"""Issue 6 on a live pool: every deployment of deployments/prefect.yaml is on the server, on the
``driftline-pool`` work pool, with its cron schedules (one per declared model for monitor, retrain
and score: the pool's data home declares two); the three event triggers are enabled
automations that run their deployment; and the bundled Prefect UI shows the deployments.

The pool is conftest.py's (shared with test_pool.py, started once per session). The expectations
are written out here, not read from flows/serve.py, so a change to the tables has to change this
acceptance test too. The UI check loads the deployments page once in headless Chromium (Debian's
``chromium``), saves a screenshot into pytest's tmp dir (its path is printed) and checks the
rendered DOM; it is skipped when chromium is not installed.

Run: .venv/bin/python -m pytest -m integration tests/integration/test_ui.py -s
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POOL = "driftline-pool"
# deployment -> (cron schedules, UTC; how the UI words them; the model it runs for). The pool's data
# home declares two models (conftest.py): churn and billing, billing with its own retrain cron.
SCHEDULES = {
    "ingest": [("30 * * * *", "At 30 minutes past the hour", None)],
    "monitor": [("0 * * * *", "Every hour every day", "billing"), ("0 * * * *", "Every hour every day", "churn")],
    "retrain": [("15 2 * * *", "At 02:15 AM every day", "billing"),
                ("0 3 * * 1", "At 03:00 AM, only on Monday", "churn")],
    "score": [("0 5 * * *", "At 05:00 AM every day", "billing"), ("0 5 * * *", "At 05:00 AM every day", "churn")],
    "audit-export": [("0 6 1 * *", "At 06:00 AM on day 1 of the month", None)],
    "enforce-retention": [("0 2 * * *", "At 02:00 AM every day", None)],
    "train": [],
    "search-worker": [],
}
# automation -> (deployment it runs, expected event, resource match, parameters from the event)
TRIGGERS = {
    "ingest-on-arrival": ("ingest", "driftline.data.arrived",
                          {"prefect.resource.id": "driftline.file.*", "driftline.origin": "watcher"},
                          {"paths": "{{ event.payload.paths }}"}),
    "retrain-on-drift": ("retrain", "driftline.drift.detected", {"prefect.resource.id": "driftline.model.*"},
                         {"model": "{{ event.payload.model }}", "idempotency_key": "{{ event.payload.window_key }}"}),
    "score-on-promotion": ("score", "driftline.model.promoted", {"prefect.resource.id": "driftline.model.*"},
                           {"model": "{{ event.payload.model }}"}),
}


def _deployments(api, timeout_s: float = 90) -> dict[str, dict]:
    """The deployments on the server, once a worker has polled the pool for them (status READY;
    right after the pool starts they are NOT_READY for a few seconds, and the UI says so)."""
    deadline = time.monotonic() + timeout_s
    while True:
        deployments = {d["name"]: d for d in api.post("/deployments/filter", {"limit": 200})}
        if all(d["status"] == "READY" for d in deployments.values()) or time.monotonic() > deadline:
            return deployments
        time.sleep(0.5)


def test_deployments_schedules_and_triggers_are_on_the_server(pool):
    api = pool["api"]
    deployments = _deployments(api)
    work_pool = api.get(f"/work_pools/{POOL}")
    assert (work_pool["type"], work_pool["status"], work_pool["is_paused"]) == ("process", "READY", False), work_pool
    assert sorted(deployments) == sorted(SCHEDULES)
    flows = {f["id"]: f["name"] for f in api.post("/flows/filter", {"limit": 200})}
    for name, expected in SCHEDULES.items():
        deployment = deployments[name]
        assert flows[deployment["flow_id"]] == name, f"{name}: deployed from flow {flows[deployment['flow_id']]}"
        assert deployment["work_pool_name"] == POOL, f"{name}: on {deployment['work_pool_name']}"
        assert (deployment["status"], deployment["paused"]) == ("READY", False), f"{name}: {deployment['status']}"
        # A per-model schedule passes its model as the run's parameter (and is keyed by a slug).
        schedules = sorted((s["schedule"].get("cron"), s["schedule"].get("timezone"), s["active"],
                            (s.get("parameters") or {}).get("model")) for s in deployment["schedules"])
        assert schedules == sorted((cron, "UTC", True, model) for cron, _, model in expected), f"{name}: {schedules}"

    automations = {a["name"]: a for a in api.post("/automations/filter", {"limit": 200})}
    assert set(TRIGGERS) <= set(automations), f"automations on the server: {sorted(automations)}"
    for name, (deployment, event, match, parameters) in TRIGGERS.items():
        automation = automations[name]
        trigger, actions = automation["trigger"], automation["actions"]
        assert automation["enabled"], f"{name} is disabled"
        assert trigger["type"] == "event" and trigger["posture"] == "Reactive", trigger
        assert trigger["expect"] == [event] and trigger["match"] == match and trigger["threshold"] == 1, trigger
        assert [(a["type"], a["source"], a["deployment_id"], a["parameters"]) for a in actions] == [
            ("run-deployment", "selected", deployments[deployment]["id"], parameters)], actions


def test_the_ui_shows_the_deployments_with_their_schedules(pool, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); the REST checks still ran")
    ids = {name: d["id"] for name, d in _deployments(pool["api"]).items()}
    screenshot = tmp_path / "deployments.png"
    url = f"{pool['ui']}/deployments"
    # One page load gives both: the screenshot and (on stdout) the DOM after the UI's API calls.
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,1000",
         "--virtual-time-budget=15000", f"--screenshot={screenshot}", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=False)
    print(f"\nUI screenshot of {url}: {screenshot}")
    dom = done.stdout
    assert done.returncode == 0 and screenshot.exists(), f"chromium failed ({done.returncode}):\n{done.stderr[-2000:]}"

    # Each row links the deployment's name to its id on this server: the UI called the pool's API.
    shown = {html.unescape(name): dep_id for dep_id, name in re.findall(
        r'href="/deployments/deployment/([0-9a-f-]+)"[^>]*class="deployment-list__name"[^>]*>([^<]+)<', dom)}
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    assert shown == ids, f"deployments in the UI: {shown}; page text: {' '.join(text.split())[:1500]}"
    words = " ".join(text.split())
    assert f"{len(ids)} Deployments" in words and "Not Ready" not in words, words[:1500]
    for name, schedules in SCHEDULES.items():
        for _, words, _model in schedules:
            assert words in text, f"{name}'s schedule ({words!r}) is not on the page"
