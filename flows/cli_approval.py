"""The approval commands: ``registry approve``, ``registry reject``, ``registry pending`` and ``registry expire``.

They decide on versions whose signed spec asks for a person's approval (see
:mod:`usecases.approval`): each handler calls one use case and prints its typed result; the
decision's signed record and audit entry are the use case's. The approver is who acts
(``DRIFTLINE_ACTOR``, else the OS user), as for every other audited command. ``approve``
promotes the version to champion as the gate would have, unless ``--no-promote``: a user who
approves a candidate expects it in production, as the issue's "the flow resumes and promotes"
says of the pool. ``expire`` records the timed-out rejections readers already derive, so the trail
shows them. Imports no Prefect (``tests/test_architecture.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.workspace import Workspace


def _ws(args: argparse.Namespace) -> "Workspace":
    from tasks.workspace import Workspace

    return Workspace.open(args.home)


def _decide(args: argparse.Namespace, *, approve: bool) -> int:
    from usecases.approval import decide

    ws = _ws(args)
    version = ws.registry.get(args.model, int(args.version) if args.version.isdigit() else args.version).version
    out = decide(ws, args.model, version, approve=approve, reason=args.reason,
                 promote=approve and not args.no_promote)
    a = out.approval
    print(f"{a.model} v{a.version}: {a.decision} by {a.approver} ({a.reason})"
          + (f"; its deleted record restored from audit entry {out.restored_from}" if out.restored_from else ""))
    if out.promoted is not None:
        print(f"{a.model}: champion -> v{a.version} (was {out.promoted.from_version})"
              + ("" if out.promoted.changed else "; already there, nothing changed"))
    _resume_pool_run(a.model, a.version, approve=approve, reason=a.reason, approver=a.approver)
    return 0


def _resume_pool_run(model: str, version: int, *, approve: bool, reason: str, approver: str) -> None:
    """A pool run paused on this version's form is resumed with the decision (see flows.approval_resume)."""
    from flows.approval_resume import describe_failure, resume_paused_runs

    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        return
    try:
        resumed = resume_paused_runs(api_url, model, version, decision="approve" if approve else "reject",
                                     reason=reason, approver=approver)
    except (OSError, ValueError) as exc:
        print(f"could not resume a pool run waiting on {model} v{version} ({describe_failure(exc)}); the decision "
              f"is recorded, and the run takes it when its pause ends", file=sys.stderr)
        return
    for name in resumed:
        print(f"resumed the pool run {name}, which was paused for this decision")


def _approve(args: argparse.Namespace) -> int:
    return _decide(args, approve=True)


def _reject(args: argparse.Namespace) -> int:
    return _decide(args, approve=False)


def _pending(args: argparse.Namespace) -> int:
    from usecases.approval import pending

    ws = _ws(args)
    ws.settings.data_home.require_existing()
    waiting = pending(ws, args.model)
    if not waiting:
        print("no version waits for approval")
        return 0
    print(f"{'model':<12} {'version':>7}  {'verdict':<8} {'age':>8}  {'timeout':>7}  {'state':<8} approvers")
    for w in waiting:
        print(f"{w.model:<12} {w.version:>7}  {w.verdict:<8} {w.age_hours:>7.1f}h  {w.timeout_hours:>6.0f}h  "
              f"{'expired' if w.expired else 'waits':<8} {', '.join(w.approvers) or 'anyone with the signing key'}")
    print("decide: python -m flows registry approve|reject MODEL VERSION --reason TEXT")
    if any(w.expired for w in waiting):
        print("expired: past the signed approval_timeout_hours, rejected (approval timed out); approving is "
              "refused; `registry expire` records the rejections")
    return 0


def _expire(args: argparse.Namespace) -> int:
    from usecases.approval import expire

    ws = _ws(args)
    ws.settings.data_home.require_existing()
    done = expire(ws, args.model)
    for a in done.rejected:
        print(f"{a.model} v{a.version}: {a.decision} ({a.reason}), recorded by {a.approver}")
    print(f"{len(done.rejected)} timed-out version(s) recorded as rejected" if done.rejected
          else "no version is past its approval timeout undecided")
    return 0


def add_commands(sub: "argparse._SubParsersAction[Any]") -> None:
    """Add approve, reject and pending to the ``registry`` command's subparsers."""
    for name, handler, text in (("approve", _approve, "approve a version that waits, and promote it"),
                                ("reject", _reject, "reject a version that waits, with a reason")):
        p = sub.add_parser(name, help=text)
        p.add_argument("model")
        p.add_argument("version", help="the version number")
        p.add_argument("--reason", required=True, help="why: recorded, signed, in the audit trail")
        if name == "approve":
            p.add_argument("--no-promote", action="store_true", help="record the approval only")
        else:
            p.set_defaults(no_promote=True)
        p.set_defaults(handler=handler)
    p = sub.add_parser("pending", help="versions that wait for approval")
    p.add_argument("model", nargs="?")
    p.set_defaults(handler=_pending)
    p = sub.add_parser("expire", help="record the rejection of versions past their approval timeout")
    p.add_argument("model", nargs="?")
    p.set_defaults(handler=_expire)
