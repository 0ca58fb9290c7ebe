"""SIGTERM stops the server gracefully and closes the sink, so the prediction log flushes what it
holds: a server process with a sink that writes down what it received and when it was closed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.serving.homes import REPO, free_port

SERVER = """
import json, sys
from pathlib import Path
from serving.app import Limits
from serving.server import build, run
from tasks.workspace import Workspace

class FileSink:
    def __init__(self, out): self.out, self.ids = Path(out), []
    def submit(self, batch): self.ids.append(batch.request_id)
    def close(self): self.out.write_text(json.dumps({"closed": True, "ids": self.ids}))

home, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
run(build(Workspace.open(home), [], limits=Limits(), sink=FileSink(out)), host="127.0.0.1", port=port)
"""


def test_sigterm_answers_then_closes_the_sink_and_exits_0(served_home: Path, tmp_path: Path) -> None:
    port, out = free_port(), tmp_path / "sink.json"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(served_home), str(port), str(out)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)  # polling for the start, nothing is timed
        for i in range(3):
            answer = httpx.post(f"http://127.0.0.1:{port}/invocations", headers={"X-Request-Id": f"r{i}"},
                                json={"dataframe_records": [{"customer_id": "C000001"}]})
            assert answer.status_code == 200, answer.text
        assert not out.exists()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert json.loads(out.read_text()) == {"closed": True, "ids": ["r0", "r1", "r2"]}
    assert "predict-server: stopped" in stdout
