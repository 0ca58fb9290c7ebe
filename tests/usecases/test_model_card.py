"""A registered candidate carries its model card, signed, rendered from its own signed record and
gate report; ``registry show MODEL VERSION --card`` prints it only when the version verifies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from governance.gate_report import GateReport
from governance.model_card import ModelCard
from governance.model_card_render import to_html, to_markdown
from registry import layout
from tasks.workspace import Workspace
from tests.usecases.candidates import FILES, gate_report, lineage
from tests.usecases.test_gate_page import _plots
from usecases.registration import gate_figures, register_candidate

SPEC = {"name": "churn", "task": "binary", "label_group": "churn_labels", "label_column": "churned",
        "feature_groups": ["customer_activity"], "intended_use": "Rank <b>accounts</b> for calls.",
        "limitations": "EU only."}


def _register(home: Path, seed: str = "c", **extra: object) -> tuple[Workspace, Path]:
    ws = Workspace.open()
    version = register_candidate(ws, files={**FILES, "model.txt": seed.encode()},
                                 lineage={**lineage(seed), "model_spec": SPEC, **extra}, report=gate_report(),
                                 plots=_plots())
    return ws, version.path


def test_the_card_is_the_rendering_of_the_signed_record_and_report(home: Path) -> None:
    ws, path = _register(home)
    verified = ws.registry.verify("churn", 1)
    assert {layout.MODEL_CARD, layout.MODEL_CARD_HTML} <= set(verified.resources)
    # Rendered again from what is signed (metadata.json and gate_report.json): the same bytes, so
    # the card holds no value the run did not record.
    record = json.loads((path / layout.METADATA).read_bytes())
    report = GateReport.from_json((path / layout.GATE_REPORT).read_bytes())
    # the gate page's own plots, drawn from the gate's evidence (and embedded as images)
    again = ModelCard(record, report, verified.key_id, plots=gate_figures(report, _plots()))
    assert (path / layout.MODEL_CARD).read_text() == to_markdown(again)
    assert (path / layout.MODEL_CARD_HTML).read_text() == to_html(again)
    md = to_markdown(again)
    assert "# Model card: churn v1" in md
    assert to_html(again).count("data:image/svg+xml") == len(gate_figures(report, _plots())) > 0
    assert "Rank &lt;b>accounts&lt;/b> for calls." in md and f"signed by key: {verified.key_id}" in md


def test_registry_show_card_prints_a_verified_card_only(home: Path, capsys) -> None:
    from flows.cli import main

    ws, path = _register(home)
    assert main(["registry", "show", "churn", "1", "--card"]) == 0
    assert capsys.readouterr().out == (path / layout.MODEL_CARD).read_text()

    card = path / layout.MODEL_CARD
    original = card.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 1  # flip one bit of the signed card
    card.write_bytes(bytes(data))
    assert main(["registry", "show", "churn", "1", "--card"]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "model_card.md" in err
    card.write_bytes(original)
    assert main(["registry", "show", "churn", "1", "--card"]) == 0


def test_a_version_from_before_cards_verifies_and_says_it_has_none(home: Path, capsys) -> None:
    from flows.cli import main

    ws, path = _register(home)
    # An old version: signed without card files (the golden sets hold real ones; this one is made
    # by registering without the card, as the registry did before).
    old = ws.registry.register("churn", files={**FILES, "model.txt": b"old"}, metadata=lineage("old"),
                               status="accepted", key=ws.signing_key())
    assert not (old.path / layout.MODEL_CARD).exists()
    ws.registry.verify("churn", old.version)
    assert main(["registry", "show", "churn", str(old.version), "--card"]) == 2
    assert "has no model card" in capsys.readouterr().err
    # A card put beside an old version's signed files is an unsigned extra file: refused.
    shutil.copy(path / layout.MODEL_CARD, old.path / layout.MODEL_CARD)
    assert main(["registry", "show", "churn", str(old.version), "--card"]) == 3
