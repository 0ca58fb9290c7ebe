"""The commands that run no flow: ``registry``, ``audit`` and ``keys``.

They work on the data home through the Prefect-free composition root (``tasks.workspace``), so
they answer at once. A handler parses its arguments, calls one use case of ``usecases/`` and
prints the typed result; commands that change state (promote, rollback, resign, key events,
erase, export, checkpoint, repair-tail) are audited and checkpointed inside the use case, as in
the flows. Nothing here writes the audit trail (``tests/test_architecture.py`` checks).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from driftline.errors import DriftlineError, InputError, IntegrityError, NotFoundError


def _ws(args: argparse.Namespace, *, read_only: bool = False):
    from tasks.workspace import Workspace

    ws = Workspace.open(args.home)  # --home, passed down (None: DRIFTLINE_HOME or ./.driftline)
    if read_only:  # a command that only reads never creates a home (a mistyped path is an error)
        ws.settings.data_home.require_existing()
    return ws


def _ref(text: str | None) -> int | str:
    if text is None:
        return "latest"
    return int(text) if text.isdigit() else text


def _registry_list(args: argparse.Namespace) -> int:
    ws = _ws(args, read_only=True)
    models = [args.model] if args.model else ws.registry.models()
    if not models:
        print(f"no models registered in {ws.home.registry}")
        return 0
    print(f"{'model':<12} {'version':>7}  {'status':<9} {'aliases':<20} {'auc':>7}  created")
    for name in models:
        aliases = ws.registry.aliases(name)
        for v in ws.registry.versions(name):
            names = ",".join(sorted(a for a, n in aliases.items() if n == v.version)) or "-"
            status = _standing(ws, v)
            auc = v.metadata.get("metrics", {}).get("auc")
            print(f"{name:<12} {v.version:>7}  {status:<9} {names:<20} "
                  f"{(f'{auc:.4f}' if isinstance(auc, float) else '-'):>7}  {v.created_at}")
    return 0


def _standing(ws: Any, v: Any) -> str:
    """The status to show: the gate's, or ``pending``/``rejected`` by a person where approval is asked;
    ``unverified`` when the version or its approval record does not verify."""
    if v.status != "accepted":
        return str(v.status)
    try:
        return str(ws.registry.approval_state(v.model, v.version).status)
    except IntegrityError:
        return "unverified"


def _approval(ws: Any, v: Any) -> dict[str, Any] | str | None:
    """A version's approval as ``registry show`` prints it: what its signed spec asks and who decided."""
    try:
        state = ws.registry.approval_state(v.model, v.version)
    except IntegrityError as exc:
        return f"unverified: {exc}"
    if not state.requirement.required:
        return None
    return {"status": state.status, "approvers": list(state.requirement.approvers),
            "decision": state.decision.to_json() if state.decision else None}


def _plain(value: Any) -> Any:
    """Read-only mappings and tuples of a version's metadata as plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _registry_show(args: argparse.Namespace) -> int:
    ws = _ws(args, read_only=True)
    v = ws.registry.get(args.model, _ref(args.version))
    if args.card:
        print(_verified_card(ws, v), end="")
        return 0
    print(json.dumps({"model": v.model, "version": v.version, "status": v.status, "path": str(v.path),
                      "key_id": v.key_id, "created_at": v.created_at, "metadata": _plain(v.metadata),
                      "approval": _approval(ws, v)}, indent=2, sort_keys=True, default=str))
    return 0


def _verified_card(ws: Any, v: Any) -> str:
    """The version's Markdown card, printed only once the version verifies and the bytes read are
    the bytes signed (read once, then checked: no window to swap the file in between)."""
    from driftline.canonical import sha256_hex
    from registry import layout

    verified = ws.registry.verify(v.model, v.version)
    signed = verified.resources.get(layout.MODEL_CARD)
    if signed is None:
        raise NotFoundError(f"{v.model} v{v.version} has no model card: it was registered before versions "
                            f"carried one (no {layout.MODEL_CARD} among its signed files)",
                            hint=f"python -m flows registry show {v.model} {v.version} prints its metadata; "
                                 "versions trained from now on carry a card")
    data = (v.path / layout.MODEL_CARD).read_bytes()
    if sha256_hex(data) != signed:
        raise IntegrityError(f"{v.path / layout.MODEL_CARD} changed after it was verified",
                             hint="run `registry verify` and restore the version from a trusted copy")
    return data.decode("utf-8")


def _registry_verify(args: argparse.Namespace) -> int:
    ws = _ws(args, read_only=True)
    if args.all or args.model is None:
        results = ws.registry.verify_all()
        bad = [(v, r) for v, r in results if isinstance(r, IntegrityError)]
        for v, r in results:
            print(f"{v.model} v{v.version}: {'FAILED: ' + str(r) if isinstance(r, IntegrityError) else 'ok'}")
        if bad:
            raise IntegrityError(f"{len(bad)} of {len(results)} version(s) failed verification")
        print(f"all {len(results)} version(s) verified")
        return 0
    version = ws.registry.get(args.model, _ref(args.version)).version
    verified = ws.registry.verify(args.model, version)
    ws.registry.approval_state(args.model, version)  # and its signed approval record, if it has one
    print(f"{args.model} v{version}: ok ({len(verified.resources)} files, signed by key {verified.key_id[:16]})")
    return 0


def _registry_promote(args: argparse.Namespace) -> int:
    from usecases.promotion import promote_version

    ws = _ws(args)
    version = ws.registry.get(args.model, _ref(args.version)).version
    move = promote_version(ws, args.model, version, alias=args.alias, reason=args.reason)
    print(f"{args.model}: {args.alias} -> v{version} (was {move.from_version})"
          + ("" if move.changed else "; already there, nothing changed"))
    return 0


def _registry_rollback(args: argparse.Namespace) -> int:
    from usecases.promotion import rollback_alias

    move = rollback_alias(_ws(args), args.model, alias=args.alias, reason=args.reason)
    print(f"{args.model}: {args.alias} rolled back to v{move.to_version} (was v{move.from_version})")
    return 0


def _registry_resign(args: argparse.Namespace) -> int:
    """After a key revocation: re-sign with the active key the versions whose files still match."""
    from usecases.resign import resign

    done = resign(_ws(args), model=args.model, version=_ref(args.version), every=args.all)
    print(f"re-signed {len(done.versions)} version(s) with key {done.key_id[:16]}"
          + (f": {', '.join(done.versions)}" if done.versions else "")
          + (f"; alias files of {', '.join(done.aliases)}" if done.aliases else ""))
    return 0


EXIT_UNVERIFIED = 4  # `audit verify`: the chain holds, but entries after the last checkpoint are unsigned


def _audit_verify(args: argparse.Namespace) -> int:
    ws = _ws(args, read_only=True)
    result = ws.audit.verify(ws.trust)
    if not result.ok:
        raise IntegrityError(f"audit trail broken at entry {result.first_bad_seq}: {result.problem}"
                             if result.first_bad_seq else f"audit trail broken: {result.problem}")
    print(f"audit trail ok: {result.entries} entries, {result.checkpoints} signed checkpoints; {result.witness}")
    if result.unsigned_tail:
        print(f"unverified: {result.unsigned_tail} entries after the last checkpoint (entries "
              f"{result.entries - result.unsigned_tail + 1}..{result.entries}); no signature vouches for "
              "them yet: `python -m flows audit checkpoint` signs them if the signing key wrote them",
              file=sys.stderr)
        return EXIT_UNVERIFIED
    return 0


def _audit_checkpoint(args: argparse.Namespace) -> int:
    """Sign a checkpoint over entries written with the signing key (refused for any other entry)."""
    from usecases.trail import checkpoint_trail

    cp = checkpoint_trail(_ws(args))
    print(f"signed checkpoint over {cp.size} entries (head {cp.head_hash[:16]}) with key {cp.key_id[:16]}")
    return 0


def _audit_repair_tail(args: argparse.Namespace) -> int:
    """Cut a torn last line (an append or checkpoint cut off mid-write), recording the cut."""
    from usecases.trail import repair_tail

    cuts = repair_tail(_ws(args)).cuts
    if not cuts:
        print("nothing to repair: neither audit file ends in a torn line")
        return 0
    for entry in cuts:
        print(f"cut a torn line, recorded as entry {entry.seq}: {dict(entry.details)}")
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from flows.progress_bar import bar_if_terminal
    from usecases.export import export_audit

    ws = _ws(args)
    with bar_if_terminal("audit export") as progress:
        done = export_audit(ws, out=Path(args.out) if args.out else None, since=args.since, until=args.until,
                            model=args.model, pii_policy=args.pii, formats=tuple(dict.fromkeys(args.format or ())),
                            progress=progress)
    treated = ", ".join(f"{column} {action}" for column, action in done.pii_actions) or "none tagged"
    print(f"audit export written to {done.path} (PII columns: {treated}; {done.report_note}); verify offline with "
          f"`python -m flows audit verify-export {done.path} --public-key KEY.pub` "
          "(or `--keys-inside`, after comparing the key ids it prints with yours)")
    return 0


def _keys_inside(bundle: Path) -> dict[str, bytes]:
    """The public keys a bundle (folder or zip) carries under keys/, by their computed key id."""
    from governance.export_zip import ZipRefused, read_zip
    from registry.keys import key_id_of

    if bundle.is_dir():
        pems = [p.read_bytes() for p in sorted((bundle / "keys").glob("*.pub")) if p.is_file() and not p.is_symlink()]
    elif bundle.is_file():
        try:
            pems = [data for name, data in sorted(read_zip(bundle).items())
                    if name.startswith("keys/") and name.endswith(".pub")]
        except ZipRefused as exc:
            raise IntegrityError(f"export {bundle} does not verify: zip refused: {exc}",
                                 hint="ask the exporter for the bundle again; do not extract this archive") from exc
    else:
        raise InputError(f"no export at {bundle}", hint="pass the bundle folder or its .zip")
    try:
        return {key_id_of(pem): pem for pem in pems}
    except (ValueError, DriftlineError) as exc:
        raise IntegrityError(f"export {bundle} does not verify: a key inside is unreadable ({exc})",
                             hint="ask the exporter for the bundle again, or pass --public-key") from exc


def _audit_verify_export(args: argparse.Namespace) -> int:
    """Offline check of an export, trusting only the public keys named (default: the trust store)."""
    from governance.export import verify_bundle
    from registry.keys import key_id_of

    if args.keys_inside:
        trusted = _keys_inside(Path(args.bundle))
        print("warning: trusting the keys inside the bundle (proves it is whole and unchanged since those keys "
              "signed it, not who they belong to): " + ", ".join(sorted(trusted)))
    elif args.public_key:
        pems = [Path(p).read_bytes() for p in args.public_key]
        trusted = {key_id_of(pem): pem for pem in pems}
    else:
        ws = _ws(args, read_only=True)
        trusted = ws.trust.public_pems()
    result = verify_bundle(Path(args.bundle), trusted)
    if not result.ok:
        raise IntegrityError(f"export {args.bundle} does not verify: {result.problems[0]}"
                             + (f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""))
    withheld = f", {result.entries_withheld} withheld" if result.entries_withheld else ""
    print(f"export ok: {result.entries} entries ({result.entries_masked} masked{withheld}), "
          f"{result.checkpoints} checkpoints, {result.versions} model versions"
          + (f", {result.approvals} approval records" if result.approvals else ""))
    return 0


def _keys(args: argparse.Namespace) -> int:
    from usecases import keys

    ws = _ws(args, read_only=args.action in ("list", "verify"))
    if args.action == "list":
        active = ws.keyring.active_key_id() if ws.keyring.exists() else None
        for key_id in ws.trust.key_ids():
            state = "revoked" if ws.trust.is_revoked(key_id) else "trusted"
            print(f"{key_id}  {state}{'  active' if key_id == active else ''}")
        for name in ws.trust.untrusted_files():
            print(f"trusted/{name}  untrusted file (no ledger entry; ignored)")
        return 0
    if args.action == "verify":
        check = keys.verify_keys(ws)
        print(f"trust ledger ok: {check.entries} entries, head {check.head_hash[:16]}, agrees with the audit trail")
        return 0
    if args.action == "trust":
        if not args.key_id:
            raise NotFoundError("keys trust needs the path of a public key (PEM)",
                                hint="python -m flows keys trust KEY.pub")
        event = keys.trust_key(ws, Path(args.key_id))
        print(f"trusted key {event.key_id}" + ("" if event.changed else " (already trusted; nothing changed)"))
        return 0
    if args.action == "init":
        event = keys.init_key(ws)
        print(f"signing key {event.key_id}")
        return 0
    if args.action == "rotate":
        event = keys.rotate_key(ws)
        print(f"new signing key {event.key_id}; earlier versions still verify with the old key")
        return 0
    event = keys.revoke_key(ws, args.key_id or "", args.reason)
    if not event.changed:
        print(f"{event.key_id} was already revoked; nothing changed")
        return 0
    print(f"revoked {event.key_id}: versions it signed fail verification until re-signed"
          + (f" (`registry resign --all`); alias files re-signed first: {', '.join(event.aliases_resigned)}"
             if event.aliases_resigned else ""))
    return 0


def _erase(args: argparse.Namespace) -> int:
    from usecases.erase import erase_entities

    keys = list(args.entity)
    if args.from_file:
        keys += Path(args.from_file).read_text(encoding="utf-8").split()
    result = erase_entities(_ws(args), keys, reason=args.reason)
    groups = ", ".join(f"{g} {n}" for g, n in sorted(result.rows_by_group.items()))
    print(f"erased {result.entities} entities: {groups}; quarantine {result.quarantined_removed}; "
          f"landing drops {result.landing_removed}; files vacuumed (request {result.request_id})")
    return 0


def _enforce_retention(args: argparse.Namespace) -> int:
    from usecases.retention import enforce_retention

    result = enforce_retention(_ws(args))
    groups = ", ".join(f"{g.group} {g.rows_deleted} rows before {g.cutoff}" for g in result.groups)
    print(f"retention: {groups or 'no group sets retention_days'}; {result.files_removed} files vacuumed"
          + ("" if result.audited else " (nothing expired: nothing written)"))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    reg = commands.add_parser("registry", help="list, show, verify, promote, roll back, approve or reject "
                                                "model versions")
    sub = reg.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="versions with status, aliases and AUC")
    p.add_argument("model", nargs="?")
    p.set_defaults(handler=_registry_list)
    p = sub.add_parser("show", help="one version's metadata and lineage, or its model card")
    p.add_argument("model")
    p.add_argument("version", nargs="?", help="number, alias or 'latest' (default)")
    p.add_argument("--card", action="store_true",
                   help="print the version's signed model card (Markdown), after verifying the version")
    p.set_defaults(handler=_registry_show)
    p = sub.add_parser("verify", help="check digests, signature and key of versions")
    p.add_argument("model", nargs="?")
    p.add_argument("version", nargs="?")
    p.add_argument("--all", action="store_true", help="every version of every model")
    p.set_defaults(handler=_registry_verify)
    p = sub.add_parser("promote", help="point an alias (default champion) at a version")
    p.add_argument("model")
    p.add_argument("version")
    p.add_argument("--alias", default="champion")
    p.add_argument("--reason", default="manual promotion")
    p.set_defaults(handler=_registry_promote)
    p = sub.add_parser("rollback", help="move an alias back to its previous version")
    p.add_argument("model")
    p.add_argument("--alias", default="champion")
    p.add_argument("--reason", default="manual rollback")
    p.set_defaults(handler=_registry_rollback)
    p = sub.add_parser("resign", help="re-sign versions with the active key (after a revocation)")
    p.add_argument("model", nargs="?")
    p.add_argument("version", nargs="?")
    p.add_argument("--all", action="store_true", help="every version not signed by the active key")
    p.set_defaults(handler=_registry_resign)
    from flows import cli_approval

    cli_approval.add_commands(sub)

    audit = commands.add_parser("audit", help="verify or export the audit trail")
    sub = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("verify", help="walk the hash chain and the signed checkpoints, compare with the witness",
                   description="Exit 0: verified up to the last entry; 3: tampered, rolled back, stripped or "
                   "deleted (the witness outside the data home remembers the last verified checkpoint); 4: "
                   "intact, but entries after the last checkpoint are unverified.").set_defaults(handler=_audit_verify)
    sub.add_parser("checkpoint", help="sign the entries written with the signing key since the last checkpoint"
                   ).set_defaults(handler=_audit_checkpoint)
    sub.add_parser("repair-tail", help="cut a torn last line (a cut-off append), recording the cut"
                   ).set_defaults(handler=_audit_repair_tail)
    p = sub.add_parser("export", help="a signed bundle for a compliance audit")
    p.add_argument("--out", help="target folder, or a file ending in .zip for one archive; must not exist "
                                  "(default reports/audit-export-<time>)")
    p.add_argument("--format", action="append", choices=("jsonl", "csv", "parquet"),
                   help="also write the entries as entries.<format> for analysts (repeatable; CSV is formula-safe)")
    p.add_argument("--pii", choices=("drop", "mask", "hash"), default=None,
                   help="what becomes of PII-tagged contract columns in entry details: dropped, masked (the "
                        "default), or a keyed hash (key derived from the signing key, never shipped); a column's "
                        "own pii = \"...\" policy is kept unless this is stricter (hash < mask < drop); "
                        "recorded per column in the manifest")
    p.add_argument("--since", help="ISO date or time, inclusive")
    p.add_argument("--until", help="ISO date or time, exclusive")
    p.add_argument("--model", help="only this model's entries and versions (the rest of the chain as links, "
                                    "so the bundle still verifies)")
    p.set_defaults(handler=_audit_export)
    p = sub.add_parser("verify-export", help="check an export bundle (folder or .zip) offline")
    p.add_argument("bundle", help="the bundle folder or its .zip, as it is")
    p.add_argument("--keys-inside", action="store_true",
                   help="trust the public keys inside the bundle (prints their ids: compare them with yours)")
    p.add_argument("--public-key", action="append", help="trusted public key PEM (repeatable; default the trust store)")
    p.set_defaults(handler=_audit_verify_export)

    p = commands.add_parser("erase", help="delete entities from every group and the quarantine, physically")
    p.add_argument("entity", nargs="*", help="entity ids (for example C000123)")
    p.add_argument("--from-file", help="a file of entity ids, whitespace separated")
    p.add_argument("--reason", required=True, help="why (the request reference); recorded in the audit trail")
    p.set_defaults(handler=_erase)

    p = commands.add_parser("enforce-retention",
                            help="delete (and vacuum) rows older than their group's retention_days; audits counts")
    p.set_defaults(handler=_enforce_retention)

    keys = commands.add_parser("keys", help="signing keys and the trust store")
    keys.add_argument("action", choices=["init", "rotate", "revoke", "list", "trust", "verify"])
    keys.add_argument("key_id", nargs="?", help="the key id (revoke) or a public key PEM file (trust)")
    keys.add_argument("--reason", default="revoked by operator")
    keys.set_defaults(handler=_keys)
