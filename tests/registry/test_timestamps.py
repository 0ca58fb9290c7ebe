"""Every time the registry writes (a version's created_at, the alias history's at, the trust
ledger's time) is in the one format, driftline.clock.format_time's."""

from __future__ import annotations

import json
import re
from pathlib import Path

from registry import KeyRing, ModelRegistry

PASSPHRASE = b"correct horse battery staple"
FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_registry_writes_one_time_format(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.init(PASSPHRASE)
    registry = ModelRegistry(tmp_path / "registry", ring.trust, signer=lambda: ring.load(PASSPHRASE))
    for body in (b"v1", b"v2"):
        registry.register("churn", files={"model.txt": body}, metadata={}, status="accepted", key=key)
    registry.promote("churn", 2, actor="ci", reason="test")
    stamps = [v.created_at for v in registry.versions("churn")]
    aliases = json.loads((tmp_path / "registry" / "churn" / "aliases.json").read_bytes())
    stamps += [change["at"] for change in aliases["history"]]
    stamps += [json.loads(line)["time"] for line in (tmp_path / "keys" / "trust.jsonl").read_text().splitlines()]
    assert len(stamps) == 4  # two versions, one promotion, the root entry
    assert all(FORMAT.fullmatch(s) for s in stamps), stamps
