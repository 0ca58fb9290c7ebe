"""The files of one registry version, named in one place. A version folder
``registry/<model>/<n>/`` holds what training wrote (the model, its schema, the reference profile,
the trials, the gate report as JSON and HTML), the model card (Markdown and HTML, rendered at
registration) and what the registry itself adds when it signs (``metadata.json`` and
``model.sig``). Every writer and reader (registration, training, the monitor, the compliance
export and its checks) names these files through this module, so none finds a file by guessing
from names and a rename is one edit.

This module imports nothing from the project: ``training`` and ``governance`` use it without
depending on the rest of the registry's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODEL = "model.txt"  # LightGBM's text dump
SCHEMA = "model_schema.json"  # the feature names, order and types the model was fit on
REFERENCE_PROFILE = "reference_profile.json"  # what the monitor compares windows against
TRIALS = "trials.json"  # the search's trials
GATE_REPORT = "gate_report.json"  # the evaluation gate's decision; metadata.json holds its sha256
GATE_REPORT_HTML = "gate_report.html"
# The model card (governance.model_card), rendered by registration once the version's number and
# signing key are known, and signed with the rest; versions made before cards have none.
MODEL_CARD = "model_card.md"
MODEL_CARD_HTML = "model_card.html"
METADATA = "metadata.json"  # written by the registry: lineage, status, created_at
SIGNATURE = "model.sig"  # written by the registry: the model-signing bundle over every other file

# Written by the registry itself; a caller's files may not use these names.
RESERVED = frozenset({METADATA, SIGNATURE})
# What a compliance export ships of each version: enough to check the signature over the metadata
# and the gate report the metadata names, without shipping the model.
EXPORTED = (METADATA, SIGNATURE, GATE_REPORT)


@dataclass(frozen=True)
class VersionFiles:
    """The paths of one version folder's files. ``VersionFiles(p).folder == p``."""

    folder: Path

    @property
    def model(self) -> Path:
        return self.folder / MODEL

    @property
    def schema(self) -> Path:
        return self.folder / SCHEMA

    @property
    def reference_profile(self) -> Path:
        return self.folder / REFERENCE_PROFILE

    @property
    def trials(self) -> Path:
        return self.folder / TRIALS

    @property
    def gate_report(self) -> Path:
        return self.folder / GATE_REPORT

    @property
    def gate_report_html(self) -> Path:
        return self.folder / GATE_REPORT_HTML

    @property
    def model_card(self) -> Path:
        return self.folder / MODEL_CARD

    @property
    def model_card_html(self) -> Path:
        return self.folder / MODEL_CARD_HTML

    @property
    def metadata(self) -> Path:
        return self.folder / METADATA

    @property
    def signature(self) -> Path:
        return self.folder / SIGNATURE
