"""Trust and change over real sockets: a promotion and a rollback swap the served version while a
client keeps sending requests (zero errors, the version changes and comes back); a version that
does not verify (one byte of its model file flipped) or an alias file that does not (one byte
flipped, in each of its files) is refused: the old version keeps serving, the ready endpoints answer 503 naming the
refusal, and the audit trail records it (``serve.refused``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from governance.audit import AuditLog
from tasks.workspace import Workspace
from tests.serving.homes import ServerProcess, make_home, sample
from tests.serving.test_oip import FEATURES
from usecases.promotion import promote_version, rollback_alias


@pytest.fixture(scope="module")
def moving_home(tmp_path_factory: pytest.TempPathFactory, demo_drop, serving_env) -> Path:
    """A home of its own: these tests move its aliases."""
    return make_home(tmp_path_factory.mktemp("moving") / "home", demo_drop)


@pytest.fixture(scope="module")
def moving_server(moving_home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(moving_home) as process:
        yield process


def _until(check: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)  # polling for an outcome, nothing is timed


class Client(threading.Thread):
    """Sends requests back to back, both protocols in turn, and keeps (status, version) of each."""

    def __init__(self, url: str, row: dict) -> None:
        super().__init__(daemon=True)
        self.url, self.row = url, row
        self.seen: list[tuple[int, str]] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        inputs = [{"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
                  for k, v in self.row.items()]
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.halt.is_set():
                try:
                    if i % 2:
                        answer = client.post(f"{self.url}/invocations", json={"dataframe_records": [self.row]})
                    else:
                        answer = client.post(f"{self.url}/v2/models/churn/infer", json={"inputs": inputs})
                    self.seen.append((answer.status_code, answer.headers.get("x-driftline-model-version", "")))
                    if answer.status_code != 200:
                        self.errors.append(answer.text)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                i += 1

    def versions(self) -> list[str]:
        changes: list[str] = []
        for _, version in self.seen:
            if not changes or changes[-1] != version:
                changes.append(version)
        return changes


def test_promotion_and_rollback_swap_the_version_with_zero_failed_requests(moving_home, moving_server) -> None:
    client = Client(moving_server.url, sample(moving_home, 1).select(FEATURES).to_dicts()[0])
    client.start()
    try:
        _until(lambda: len(client.seen) >= 20, "traffic")
        promote_version(Workspace.open(moving_home), "churn", 2, reason="serving test")
        _until(lambda: client.versions()[-1] == "churn/2", "the promoted version served")
        served_before = len(client.seen)
        _until(lambda: len(client.seen) >= served_before + 20, "traffic on v2")
        rollback_alias(Workspace.open(moving_home), "churn", reason="serving test")
        _until(lambda: client.versions()[-1] == "churn/1", "the rolled-back version served")
        served_before = len(client.seen)
        _until(lambda: len(client.seen) >= served_before + 20, "traffic after the rollback")
    finally:
        client.halt.set()
        client.join(timeout=30)
    assert client.errors == [] and all(status == 200 for status, _ in client.seen)
    assert client.versions() == ["churn/1", "churn/2", "churn/1"], client.versions()
    assert httpx.get(f"{moving_server.url}/v2/models/churn").json()["versions"] == ["1"]


def _refused(url: str) -> bool:
    return httpx.get(f"{url}/v2/health/ready").status_code == 503


def _score_version(url: str, row: dict) -> str:
    answer = httpx.post(f"{url}/invocations", json={"dataframe_records": [row]})
    assert answer.status_code == 200, answer.text
    return answer.headers["x-driftline-model-version"]


VERSION_FILES = ("model.txt", "model_schema.json", "model.sig", "metadata.json", "gate_report.json",
                 "gate_report.html")


def test_a_version_with_a_byte_flipped_in_any_file_is_refused_and_the_old_one_keeps_serving(
        moving_home, moving_server) -> None:
    url, row = moving_server.url, sample(moving_home, 1).select(FEATURES).to_dicts()[0]
    assert _score_version(url, row) == "churn/1"
    ws = Workspace.open(moving_home)
    detected = []
    for name in VERSION_FILES:
        path = moving_home / "registry" / "churn" / "3" / name
        original = path.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        try:
            # promote verifies and refuses it; a forger (or a bug) moving the alias file directly does not.
            ws.registry.set_alias("churn", "champion", 3, actor="mallory", reason=f"tamper test: {name}")
            _until(lambda: _refused(url), f"the ready endpoint report the refusal of a flipped {name}")
            ready = httpx.get(f"{url}/v2/health/ready").json()
            refused = ready["models"]["churn@champion"]
            assert ready["ready"] is False and refused["serving"] == "churn/1" and refused["refused"]["version"] == 3
            model_ready = httpx.get(f"{url}/v2/models/churn/ready")
            assert model_ready.status_code == 503 and model_ready.json()["refused"]["version"] == 3
            assert _score_version(url, row) == "churn/1"  # the last verified version answers
            detected.append(name)
        finally:
            path.write_bytes(original)
            # The alias back on what is served: nothing refused any more.
            ws.registry.set_alias("churn", "champion", 1, actor="admin", reason="undo the tamper test")
        _until(lambda: not _refused(url), "the refusal cleared")
    assert detected == list(VERSION_FILES)
    entries = [e for e in AuditLog(moving_home / "audit").entries() if e.action == "serve.refused"]
    assert [e.subject for e in entries] == ["model:churn:v3"] * len(VERSION_FILES)
    assert all(e.details["serving"] == 1 for e in entries)


def test_an_alias_file_with_a_flipped_byte_is_refused_and_the_old_version_keeps_serving(
        moving_home, moving_server) -> None:
    url, row = moving_server.url, sample(moving_home, 1).select(FEATURES).to_dicts()[0]
    aliases = moving_home / "registry" / "churn" / "aliases.json"
    original = aliases.read_bytes()
    data = bytearray(original)
    data[data.index(b'"champion"') + 2] ^= 0x01  # inside the signed aliases
    aliases.write_bytes(bytes(data))
    try:
        _until(lambda: _refused(url), "the forged alias file refused")
        assert _score_version(url, row) == "churn/1"
    finally:
        aliases.write_bytes(original)
    _until(lambda: not _refused(url), "the restored alias file accepted")


def test_a_champion_that_does_not_verify_at_start_stops_the_start_with_exit_3(tmp_path, demo_drop, serving_env,
                                                                               capsys) -> None:
    from flows.cli import main

    home = make_home(tmp_path / "home", demo_drop, versions=1)
    model_file = home / "registry" / "churn" / "1" / "model.txt"
    data = bytearray(model_file.read_bytes())
    data[-3] ^= 0x01
    model_file.write_bytes(bytes(data))
    assert main(["--home", str(home), "predict-server", "--port", "0"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("integrity failure:") and "Traceback" not in err
