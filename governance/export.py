"""Compliance export: one signed bundle an auditor verifies offline, and its verifier.

``export_bundle`` writes a folder, or with a target ending in ``.zip`` the same files as one
canonical archive (:mod:`governance.export_zip`)::

    manifest.json  manifest.sig          canonical JSON listing every file's sha256; ECDSA signature
    audit/entries.jsonl                  entries of the range, plus the later "context" entries that
                                         link it to the checkpoint signing it
    audit/checkpoints.jsonl              checkpoints whose size falls in the shipped segment
    entries.<jsonl|csv|parquet>          on request: the analysts' table (formula-safe CSV)
    registry/<model>/<version>/          every file the version's model.sig signs, and model.sig,
                                         verbatim, so ``model_signing verify key`` accepts the folder
    registry/<model>/approvals/<v>.json  a person's signed decision on the version, when there is one
                                         (:mod:`governance.export_approvals`), verified offline too
    keys/<key id>.pub  report.html       public keys; the human-readable summary
    model_report.html [model_report.pdf] each model's story (:mod:`governance.export_model_report`);
                                         the PDF when a converter made one (manifest ``report``)

PII: detail fields named by the policy (at any depth) are dropped, masked or keyed-hashed
(:mod:`governance.export_pii`), each by its column's action; the actions are in the signed
manifest and the verifier checks every shipped entry and analysts' row honours them. A version
fit on a PII column ships without its model files (they hold the column's values), listed in the
manifest's ``registry_withheld``; ``model_signing verify`` cannot accept that one folder. A
treated entry can no longer be re-hashed, so the verifier checks it by its place in the chain (its
stored hash links to its neighbours and, through them, to a signed checkpoint) and by the manifest
signature, and says how many entries were checked each way. ``verify_bundle`` trusts only the keys it is given.

One model's export (``model`` and ``select``): a filtered subset cannot be chained on its own, so
the bundle ships the whole chain of the segment, but only the selected entries whole; every other
entry is withheld, shipped as its links alone (``seq``, ``prev_hash``, ``hash``, ``withheld``) and
listed in the manifest's ``withheld_seqs``. The verifier walks the full chain to a signed checkpoint
and re-hashes every selected entry, so each is proven to be the entry at its place in the signed
chain; withheld entries are vouched for by their place only, as masked ones are, and their content
(other models', other groups') never leaves. Only the model's registry versions are shipped.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from driftline.atomic import fault_point, fsync_dir, write_atomic
from driftline.canonical import canonical_json, sha256_hex
from driftline.clock import utc_now
from driftline.crypto import Bundle
from driftline.errors import AuditChainError, InputError, IntegrityError
from driftline.progress import Progress
from driftline.progress import report as report_progress
from governance.audit import AuditEntry, AuditLog, format_time
from governance.checkpoints import PemVerifier, Signer
from governance.export_approvals import approval_name, approval_state, read_approval, record_of
from governance.export_checks import BundleVerification, check_bundle
from governance.export_pii import MASK, PiiPolicy, personal_features
from governance.export_tables import FORMATS, render_entries
from governance.export_zip import ZipRefused, canonical_zip, read_zip
from governance.export_model_report import render_model_report
from governance.export_report import render_report
from governance.report_pdf import PdfResult
from registry import layout

__all__ = ["FORMAT", "MASK", "BundleVerification", "export_bundle", "verify_bundle"]

FORMAT = "driftline.compliance-bundle/v1"


def _signed_names(folder: Path) -> list[str]:
    """The files ``model.sig`` signs, so the shipped version is whole for ``model_signing verify``;
    the layout's exported files when the signature cannot be read (the verifier then says why)."""
    try:
        statement = json.loads(Bundle.decode((folder / layout.SIGNATURE).read_bytes()).payload)
        resources = statement["predicate"]["resources"]
        names = [str(item["name"]) for item in resources]
    except (OSError, ValueError, KeyError, TypeError, IndexError, IntegrityError):
        return [n for n in layout.EXPORTED if n != layout.SIGNATURE]
    # Names come from a file in the data home: only plain relative ones are followed.
    return [n for n in names if n and not n.startswith("/") and ".." not in n.split("/") and "\\" not in n]


def _version_dirs(registry_root: Path) -> list[tuple[str, int, Path]]:
    found = []
    if registry_root.is_dir():
        for model in sorted(p for p in registry_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for version in model.iterdir():
                if version.is_dir() and version.name.isdigit():
                    found.append((model.name, int(version.name), version))
    return sorted(found, key=lambda item: (item[0], item[1]))


def export_bundle(out: Path, *, audit: AuditLog, registry_root: Path, public_keys: Mapping[str, bytes],
                  signer: Signer, since: str | None = None, until: str | None = None,
                  pii_fields: Sequence[str] = (),
                  clock: Callable[[], datetime] | None = None, model: str | None = None,
                  select: Callable[[AuditEntry], bool] | None = None, pii: PiiPolicy | None = None,
                  formats: Sequence[str] = (), pdf: Callable[[bytes], PdfResult] | None = None,
                  progress: Progress | None = None) -> Path:
    """Write the bundle folder ``out`` (must not exist) and return it.

    The log is verified first against ``public_keys`` and a broken log is refused. When the range
    reaches past the last checkpoint, a new checkpoint is signed with ``signer`` so that every
    exported entry is vouched for. ``clock`` (default: now) dates the bundle; injectable so that
    golden files can be made reproducibly. With ``model``, only the entries ``select`` keeps are
    shipped whole (the others withheld, see the module doc) and only that model's versions.
    ``pii`` (default: mask ``pii_fields``) treats PII detail fields; ``formats`` adds the analysts'
    ``entries.<format>`` files. ``pdf`` (:func:`governance.report_pdf.html_to_pdf`) adds
    ``model_report.pdf`` when it can make one; the manifest's ``report`` says which was made.
    An ``out`` ending in ``.zip`` is written as one canonical archive.
    ``progress(done, total, step)`` is told of each step: the chain verified, the entries taken,
    each registry version read, the bundle written.
    """
    if (model is None) != (select is None):
        raise InputError("a model export needs both the model's name and its entry filter",
                         hint="pass model and select together, or neither")
    out = Path(out)
    policy = pii if pii is not None else PiiPolicy(tuple(pii_fields), "mask")
    for fmt in formats:
        if fmt not in FORMATS:
            raise InputError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}",
                             hint="pass --format jsonl, --format csv or --format parquet")
    if out.exists():
        raise InputError(f"export target {out} already exists", hint="choose a new folder")
    keys = {**public_keys}
    if signer.key_id not in keys:
        raise InputError("the exporter's public key is not among public_keys",
                         hint="pass the signer's public PEM so auditors can check the manifest")
    version_dirs = [d for d in _version_dirs(Path(registry_root)) if model is None or d[0] == model]
    steps, step = 3 + len(version_dirs), iter(range(1, 4 + len(version_dirs)))
    checker = PemVerifier(keys)
    check = audit.verify(checker)
    if not check.ok:
        raise AuditChainError(f"refusing to export a broken audit log: {check.problem}")
    report_progress(progress, next(step), steps, f"audit chain verified ({check.entries} entries)")
    wanted = [e.seq for e in audit.entries(since=since, until=until) if select is None or select(e)]
    checkpoints = list(audit.checkpoints())
    in_range = (wanted[0], wanted[-1]) if wanted else None
    if in_range and not any(cp.size >= in_range[1] for cp in checkpoints):
        checkpoints.append(audit.checkpoint(signer))
    cover = min((cp.size for cp in checkpoints if in_range and cp.size >= in_range[1]), default=0)
    shipped, masked, withheld, lines = [], [], [], []
    for entry in audit.entries():
        if in_range and in_range[0] <= entry.seq <= cover:
            if select is not None and not select(entry):
                withheld.append(entry.seq)
                lines.append(canonical_json({"seq": entry.seq, "prev_hash": entry.prev_hash, "hash": entry.hash,
                                             "withheld": True}) + b"\n")
                continue
            details, hit = policy.apply(dict(entry.details), entry.action)
            if hit:
                masked.append(entry.seq)
                entry = AuditEntry(**{**entry.to_dict(), "details": details})
            shipped.append(entry)
            lines.append(entry.to_line())
    shipped_cps = [cp for cp in checkpoints if in_range and in_range[0] <= cp.size <= cover]
    report_progress(progress, next(step), steps, f"{len(shipped)} entries taken")

    files: dict[str, bytes] = {
        "audit/entries.jsonl": b"".join(lines),
        "audit/checkpoints.jsonl": b"".join(cp.to_line() for cp in shipped_cps)}
    versions, registry_withheld = [], {}
    for owner, number, folder in version_dirs:
        item: dict[str, Any] = {"model": owner, "version": number}
        names = _signed_names(folder)
        if personal := personal_features(folder, policy.actions):
            # Fit on a PII column: its model files hold the column's values and are signed, so
            # they cannot be treated; only the lineage, the gate report and the signature ship.
            names = [n for n in names if n in layout.EXPORTED]
            registry_withheld[f"{owner}/{number}"] = list(personal)
            item["pii_features"] = list(personal)
        # Exactly the layout's files, by name: a model's own file whose name mentions a gate is
        # neither shipped nor taken for the gate report.
        for name in [*names, layout.SIGNATURE]:
            path = folder / name
            if path.is_file() and not path.is_symlink():
                files[f"registry/{owner}/{number}/{name}"] = data = path.read_bytes()
                if name == layout.METADATA:
                    item["metadata"] = json.loads(data)
                elif name == layout.GATE_REPORT:
                    item["gate"] = json.loads(data)
        # A person's decision, shipped beside the version (verified first: see export_approvals).
        approval = read_approval(Path(registry_root), owner, number, checker)
        if approval is not None:
            files[approval_name(owner, number)] = approval[0]
        item["approval"] = approval_state(item.get("metadata") or {},
                                          record_of(approval[0]) if approval is not None else None)
        versions.append(item)
        report_progress(progress, next(step), steps, f"{owner} v{number}")
    for key_id, pem in sorted(keys.items()):
        files[f"keys/{key_id}.pub"] = pem
    for fmt in formats:
        files[f"entries.{fmt}"] = render_entries(shipped, fmt)
    created = format_time(clock() if clock is not None else utc_now())
    files["report.html"] = render_report(
        created_at=created, since=since, until=until, entries=shipped, in_range=in_range,
        masked=masked, checkpoints=shipped_cps, versions=versions, key_ids=sorted(keys),
        exporter=signer.key_id).encode("utf-8")
    files["model_report.html"] = page = render_model_report(
        created_at=created, entries=shipped, versions=versions, model=model,
        pdf_note="A PDF copy is model_report.pdf when a converter could make one (the manifest's "
                 "report field says which was made).").encode("utf-8")
    made = pdf(page) if pdf is not None else PdfResult(None, None, "No PDF: none was asked for.")
    if made.pdf is not None:
        files["model_report.pdf"] = made.pdf
    manifest = canonical_json({
        "format": FORMAT, "created_at": created, "since": since, "until": until,
        "exporter_key_id": signer.key_id, "pii_fields": sorted(policy.fields), "masked_seqs": masked,
        "pii_policy": policy.record(),
        "report": {"html": "model_report.html", "pdf": "model_report.pdf" if made.pdf is not None else None,
                   "pdf_converter": made.converter, "note": made.note},
        "in_range": list(in_range) if in_range else None,
        # A model's export only: the whole-log export's manifest stays byte for byte as it was.
        **({"model": model, "withheld_seqs": withheld} if model is not None else {}),
        # Only when a version was fit on a PII column: other manifests keep their bytes.
        **({"registry_withheld": registry_withheld} if registry_withheld else {}),
        "files": {name: sha256_hex(data) for name, data in sorted(files.items())}})
    if out.suffix == ".zip":
        files.update({"manifest.json": manifest, "manifest.sig": signer.sign(manifest)})
        # One file, replaced atomically: a kill before the rename leaves nothing at the target.
        # A killed export left its temporary beside the target (kill point export.staged): cleared.
        for stale in out.parent.glob(f".{out.name}.partial-*"):
            stale.unlink(missing_ok=True)
        write_atomic(out, canonical_zip(files), prefix=f".{out.name}.partial-", staged="export.staged",
                     replaced="export.renamed")
        report_progress(progress, next(step), steps, f"{out.name} written")
        return out
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for name, data in files.items():
        write_atomic(staging / name, data)
    write_atomic(staging / "manifest.json", manifest)
    write_atomic(staging / "manifest.sig", signer.sign(manifest))
    fault_point("export.staged")  # a kill here leaves only the hidden .partial folder, cleared by the rerun
    staging.rename(out)  # the bundle appears whole or not at all
    fsync_dir(out.parent)
    fault_point("export.renamed")
    report_progress(progress, next(step), steps, f"{out.name} written")
    return out


def verify_bundle(path: Path, trusted_keys: Mapping[str, bytes]) -> BundleVerification:
    """Check a bundle (folder or ``.zip``) offline against ``trusted_keys`` (key id -> public PEM);
    never raises for a bad one."""
    path = Path(path)
    if path.is_dir():
        return check_bundle(path, PemVerifier(trusted_keys), FORMAT)
    try:
        files = read_zip(path)
    except ZipRefused as exc:
        return BundleVerification(False, (f"zip refused: {exc}",))
    if canonical_zip(files) != path.read_bytes():
        return BundleVerification(False, (f"{path.name} is not the canonical archive of its members: a header, "
                                          "date, comment or the directory was changed",))
    with tempfile.TemporaryDirectory(prefix="driftline-verify-") as tmp:
        root = Path(tmp) / "bundle"
        for name, data in files.items():  # names checked by read_zip: plain, relative, no '..'
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return check_bundle(root, PemVerifier(trusted_keys), FORMAT)
