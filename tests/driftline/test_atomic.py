"""The one write-fsync-rename: kill -9 at its named fault points leaves the old or the new bytes,
never a torn file; a stream is copied whole; a failed write leaves no temporary file. And the one
sweeper of dead staging folders."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.atomic import write_atomic
from driftline.staging import remove_dead_staging, staging_name

ROOT = Path(__file__).resolve().parents[2]
CHILD = ("import sys; from pathlib import Path; from driftline.atomic import write_atomic; "
         "write_atomic(Path(sys.argv[1]), b'new' * 1000, staged='t.staged', replaced='t.replaced')")


@pytest.mark.parametrize("fault", ["t.staged", "t.replaced"])
def test_kill_at_named_points_leaves_old_or_new_bytes(tmp_path: Path, fault: str) -> None:
    target = tmp_path / "file.json"
    target.write_bytes(b"old")
    env = {**os.environ, "DRIFTLINE_FAULT": fault, "PYTHONPATH": str(ROOT)}
    code = subprocess.run([sys.executable, "-c", CHILD, str(target)], env=env, timeout=60).returncode
    assert code == -signal.SIGKILL
    assert target.read_bytes() == (b"new" * 1000 if fault == "t.replaced" else b"old")
    write_atomic(target, b"again")  # the next write succeeds over whatever the kill left
    assert target.read_bytes() == b"again"


def test_stream_is_copied_from_its_start_with_mode(tmp_path: Path) -> None:
    stream = io.BytesIO(b"x" * (3 << 20))
    stream.seek(100)  # a caller that already read from it
    write_atomic(tmp_path / "out.bin", stream, mode=0o600)
    assert (tmp_path / "out.bin").read_bytes() == b"x" * (3 << 20)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o600


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, *args: object) -> bytes:
            raise OSError("disk gone")

    (tmp_path / "keep").write_bytes(b"old")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "keep", Broken(b"abc"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
    assert (tmp_path / "keep").read_bytes() == b"old"


def test_dead_staging_is_swept_live_and_unnamed_kept(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f".staging-{gone.pid}-abc"
    live = tmp_path / staging_name("def")
    unnamed = tmp_path / ".staging-xyz"
    for folder in (dead, live, unnamed):
        folder.mkdir()
    assert remove_dead_staging(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and unnamed.exists()
