"""Register a gated candidate as a signed version, once, and audit it.

A candidate is known by its identity: sha256 over the model file's digest, the training set's
fingerprint and the search parameters (the same data, the same parameters, the same bytes). Its
model card (:mod:`governance.model_card`) is rendered by the registry under its lock, once the
version's number and signing key are known, and signed with the version's other files. The
identity is signed into the version's metadata, and the registry returns the existing version
for a known identity instead of allocating a new one, so a rerun after a crash between a
version's rename and its ``model.register`` entry registers nothing twice; the lost entry is
recovered by :func:`usecases.reconcile.reconcile`.

Two registrants of the same candidate (overlapping runs in pool mode) are serialised by the
model's candidate lock, ``registry/<model>/.register.lock``: "is it registered?", the version's
publication and its ``model.register`` entry happen under it, so the second registrant finds the
first's version, with its entry, and appends nothing. Both steps also hold the reconcile lock
shared (:mod:`usecases.reconcile_lock`), so a reconcile never takes the entry on its way for lost.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from driftline.atomic import write_atomic
from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import InputError, LockTimeout
from registry import layout
from usecases.reconcile import reconcile
from usecases.reconcile_lock import DEFAULT_TIMEOUT, writer_lock

if TYPE_CHECKING:
    from governance.gate_plots import PlotEvidence
    from governance.gate_report import GateReport
    from registry.versions import Derived, ModelVersion, Status
    from tasks.workspace import Workspace

MODEL_FILE = layout.MODEL


def candidate_identity(files: Mapping[str, Path | bytes], lineage: Mapping[str, Any]) -> str:
    """sha256 over the model file's digest, the training-set fingerprint and the parameters."""
    if MODEL_FILE not in files:
        raise InputError(f"a candidate needs its {MODEL_FILE}, got files {sorted(files)}",
                         hint="pass the files TrainedModel.save wrote")
    data = files[MODEL_FILE]
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    try:
        training_set, params = lineage["data"]["training_set_sha256"], lineage["search"]["params"]
    except (KeyError, TypeError) as exc:
        raise InputError(f"lineage lacks {exc} (training set or search parameters)",
                         hint="build it with registry.lineage.build_lineage") from None
    return sha256_hex(canonical_json({"model_sha256": hashlib.sha256(raw).hexdigest(),
                                      "training_set_sha256": training_set, "params": dict(params)}))


def latest_drift_report(reports: Path, model: str) -> Path | None:
    """The newest drift report of ``model`` under ``reports/`` (by window end, then version)."""
    pattern = re.compile(rf"drift-{re.escape(model)}-v(\d+)-(\d{{8}}T\d{{6}})\.html")
    found = [(m.group(2), int(m.group(1)), p) for p in (reports.iterdir() if reports.is_dir() else ())
             if (m := pattern.fullmatch(p.name))]
    return max(found)[2] if found else None


def report_links(ws: "Workspace", model: str, version: int, page: Path) -> dict[str, str]:
    """The gate page's links, relative to where ``page`` is: lineage, search, drift report."""
    folder = ws.registry.root / model / str(version)
    links = {"lineage (metadata.json)": folder / layout.METADATA, "search (trials.json)": folder / layout.TRIALS}
    drift = latest_drift_report(ws.home.reports, model)
    if drift is not None:
        links[f"latest drift report ({drift.name})"] = drift
    return {text: os.path.relpath(target, page.parent) for text, target in links.items()}


def gate_html(ws: "Workspace", report: "GateReport", figures: Mapping[str, str], model: str, version: int,
              page: Path) -> bytes:
    """The gate page with its plots (``figures``: name -> SVG, from :func:`gate_figures`)."""
    from governance.gate_plots import TITLES

    titled = {name: (TITLES[name], svg) for name, svg in figures.items()}
    return report.to_html(version=version, figures=titled, links=report_links(ws, model, version, page)).encode()


def gate_figures(report: "GateReport", plots: "PlotEvidence | None") -> Mapping[str, str]:
    """The gate's plots, drawn once for the gate page and the model card (none without evidence)."""
    if plots is None:
        return {}
    from governance.gate_plots import gate_plots  # matplotlib only when a report is rendered

    return gate_plots(report, plots)


def card_of(report: "GateReport", plots: Mapping[str, str] = MappingProxyType({})) -> "Derived":
    """The registry's ``derived`` files of a version: its model card, rendered from the version's
    signed record (the lineage the run built), the gate's report and the signing key's id."""
    from governance.model_card import ModelCard
    from governance.model_card_render import card_files

    def derive(record: Mapping[str, Any], key_id: str) -> Mapping[str, bytes]:
        return card_files(ModelCard(record, report, key_id, plots))
    return derive


def register_candidate(ws: "Workspace", *, files: Mapping[str, Path | bytes], lineage: Mapping[str, Any],
                       report: "GateReport", flow_run_id: str | None = None,
                       lock_timeout: float = DEFAULT_TIMEOUT, plots: "PlotEvidence | None" = None,
                       figures: Mapping[str, str] | None = None) -> "ModelVersion":
    """The candidate's version (new, or the one another or a crashed run already published), audited
    once. Its gate page and its model card (both with the plots of ``plots``, drawn once, or the
    ``figures`` a caller already drew from them with :func:`gate_figures`) are signed
    with it and the page copied under ``reports/``; the version's copy names the number the registry
    is about to allocate (registrations of a model are serialised by its candidate lock), the
    ``reports/`` copy the number it did allocate."""
    model = ws.settings.model_name
    identity = candidate_identity(files, lineage)
    status: Status = "accepted" if report.passed else "rejected"
    figures = gate_figures(report, plots) if figures is None else figures
    with writer_lock(ws.home.state, timeout=lock_timeout), _candidate_lock(ws, model, lock_timeout):
        version = ws.registry.find_candidate(model, identity)
        existing = version is not None
        if version is None:
            number = max((v.version for v in ws.registry.versions(model)), default=0) + 1
            html = gate_html(ws, report, figures, model, number,
                             ws.registry.root / model / str(number) / layout.GATE_REPORT_HTML)
            version = ws.registry.register(model, files={**files, layout.GATE_REPORT: report.to_json(),
                                                         layout.GATE_REPORT_HTML: html},
                                           metadata=lineage, status=status, key=ws.signing_key(),
                                           identity=identity, derived=card_of(report, figures))
            ws.audit.append("model.register", f"model:{model}:v{version.version}", {
                "status": status, "key_id": version.key_id, "metrics": dict(lineage.get("metrics", {})),
                "delta_versions": dict(lineage["data"]["delta_versions"]),
                "gate_report_sha256": report.digest}, actor=ws.actor(flow_run_id))
    if existing:
        # Its model.register entry, if a crash lost it. Outside the shared lock: reconcile takes it
        # exclusive, and would wait for this very process.
        reconcile(ws, lock_timeout=lock_timeout)
    page = ws.home.reports / f"gate-{model}-v{version.version}.html"
    write_atomic(page, gate_html(ws, report, figures, model, version.version, page))
    return version


@contextmanager
def _candidate_lock(ws: "Workspace", model: str, timeout: float) -> Iterator[None]:
    from registry.versions import check_model_name  # loaded with ws.registry anyway

    folder = ws.registry.root / check_model_name(model)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / ".register.lock"), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise LockTimeout(f"the registration lock {lock.lock_file} of model {model!r} was held for over "
                          f"{timeout:g}s by another registration",
                          hint="another run is registering a version of this model; retry when it finishes") from None
    try:
        yield
    finally:
        lock.release()
