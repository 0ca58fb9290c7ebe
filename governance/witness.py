"""A witness: the last verified marks of a data home's logs, kept where its writer cannot rewind them.

A hash chain with signed checkpoints proves that what is there was not changed, but not that
nothing was taken away: whoever can write the data home can delete ``checkpoints.jsonl``, or roll
the log and its checkpoints back together to an older, validly signed state. So the verifier keeps
its own memory outside the data home: one small JSON file per data home (named by the first 32
hex characters of sha256 over the home's resolved path) in a witness folder, by default
``$XDG_STATE_HOME/driftline/witness`` (else ``~/.local/state/driftline/witness``). It holds named
marks (``"audit"``; the trust ledger uses ``"trust"``), each the size and head hash of the latest
signed checkpoint this user saw verified or signed. :meth:`Witness.advance` is monotonic (a
smaller size, or the same size with another head, is refused) and atomic (write, fsync, rename;
mode 0600). A folder inside the data home is refused, since the home's writer could rewind it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from driftline.atomic import fault_point, write_atomic
from driftline.canonical import canonical_json
from driftline.errors import ConfigError, IntegrityError

FORMAT = "driftline.witness/v1"
_HEX = frozenset("0123456789abcdef")


def default_witness_dir() -> Path:
    """``$XDG_STATE_HOME/driftline/witness``, else ``~/.local/state/driftline/witness``."""
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "driftline" / "witness"


@dataclass(frozen=True)
class WitnessMark:
    """One witnessed head: ``size`` entries whose last hash is ``head_hash``, signed at ``time``.

    Round-trip law: ``WitnessMark.from_dict(m.to_dict()) == m``; the constructor refuses a
    malformed mark, so a mark read from a damaged file never reaches a comparison.
    """

    size: int
    head_hash: str
    time: str

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise ValueError(f"witness size {self.size!r} is not an entry count")
        if not (isinstance(self.head_hash, str) and len(self.head_hash) == 64 and set(self.head_hash) <= _HEX):
            raise ValueError(f"witness head_hash {self.head_hash!r} is not a sha256 hex digest")
        if not isinstance(self.time, str):
            raise ValueError(f"witness time {self.time!r} is not text")

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "head_hash": self.head_hash, "time": self.time}

    @classmethod
    def from_dict(cls, raw: Any) -> "WitnessMark":
        if not isinstance(raw, dict) or set(raw) != {"size", "head_hash", "time"}:
            raise ValueError(f"a mark has the fields size, head_hash, time; found {raw!r:.80}")
        return cls(**raw)


class Witness:
    """The witness file ``path`` of one data home (see the module docstring)."""

    def __init__(self, path: Path, *, home: Path | None = None) -> None:
        self.path = Path(path)
        self.home = home

    @classmethod
    def for_home(cls, home: Path, folder: Path | None = None) -> "Witness":
        """The witness of data home ``home`` in ``folder`` (default :func:`default_witness_dir`)."""
        root = Path(home).expanduser().resolve()
        where = Path(folder if folder is not None else default_witness_dir()).expanduser().resolve()
        if where == root or root in where.parents:
            raise ConfigError(f"witness folder {where} is inside the data home {root}",
                              hint="a witness the data home's writer can rewind witnesses nothing; set "
                                   "DRIFTLINE_WITNESS_DIR to a folder outside the data home")
        name = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:32]
        return cls(where / f"{name}.json", home=root)

    def _read(self) -> dict[str, WitnessMark]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_bytes())
            if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("marks"), dict):
                raise ValueError(f"not a {FORMAT} document")
            return {str(name): WitnessMark.from_dict(mark) for name, mark in raw["marks"].items()}
        except (OSError, ValueError, TypeError) as exc:
            raise IntegrityError(
                f"the witness file {self.path} is unreadable ({exc}); it cannot vouch that the data "
                f"home was not rolled back",
                hint="find out who changed it (it lives outside the data home); if it must go, move it "
                     "away and run `python -m flows audit verify` to record a new one") from exc

    def seen(self, log: str) -> WitnessMark | None:
        """The mark last recorded for ``log``, or None when this witness never saw it."""
        return self._read().get(log)

    def advance(self, log: str, mark: WitnessMark) -> None:
        """Record ``mark`` for ``log``; refuses to go back (a smaller size, or another head at the same size)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=60):
            marks = self._read()
            old = marks.get(log)
            if old is not None and (mark.size < old.size or
                                    (mark.size == old.size and mark.head_hash != old.head_hash)):
                raise IntegrityError(
                    f"witness {self.path} saw {log} at {old.size} entries (head {old.head_hash[:16]}); "
                    f"refusing to record {mark.size} entries (head {mark.head_hash[:16]})",
                    hint=f"the {log} log was rolled back or rewritten; restore it from a backup")
            if old == mark:
                return
            marks[log] = mark
            document = {"format": FORMAT, "home": str(self.home) if self.home else None,
                        "marks": {name: m.to_dict() for name, m in sorted(marks.items())}}
            fault_point("witness.before_write")
            write_atomic(self.path, canonical_json(document) + b"\n", mode=0o600)
            fault_point("witness.written")

    def forget(self) -> None:
        """Drop every mark: only for an explicit wipe of the data home (the demo's)."""
        self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"Witness({str(self.path)!r})"
