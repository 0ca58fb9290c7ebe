"""After ``registry approve|reject``: resume the pool run paused on that version's approval form.

A training run on the pool pauses for the decision (:mod:`flows.approval_wait`). A person may decide
with the command instead of the form; the signed record and audit entry are then the command's, and
the paused run used to sit in the UI until its timeout (72 h by default) before it noticed. When the
command runs with ``PREFECT_API_URL`` set (as on the pool's machines), it finds the runs paused on
this version's form (their pause key, :func:`pause_key`) and resumes them with the same decision; the
run then finds the version decided (its own decision would be refused) and ends with the command's,
promoting nothing itself (the command promoted, or was told not to).

Prefect's REST API through the standard library (``POST /flow_runs/filter``, ``POST
/flow_runs/{id}/resume``, what the UI's form sends), so the command imports no Prefect: it runs no
flow (``tests/test_architecture.py``). A server that cannot be reached costs a warning, never the
decision, which is already recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from typing import Any, Literal


def pause_key(model: str, version: int, attempt: int) -> str:
    """The key of a run's pause on ``model`` v``version``'s approval form (``attempt``: its re-pauses)."""
    return f"{pause_prefix(model, version)}{attempt}"


def pause_prefix(model: str, version: int) -> str:
    """Prefect takes only lowercase letters, digits and dashes in the keys of a pause's input, where a
    model name may hold capitals, dots and underscores (``Churn_EU``: the pause itself failed): the name
    lowercased with the rest as dashes, for the UI, and 8 bytes of its SHA-256, so that no two models
    share a key and no model's key is a prefix of another's."""
    slug = re.sub(r"[^a-z0-9-]", "-", model.lower())
    return f"approval-{slug}-{hashlib.sha256(model.encode()).hexdigest()[:16]}-v{version}-"


def _post(api_url: str, path: str, body: dict[str, Any], timeout: float) -> Any:
    request = urllib.request.Request(api_url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the configured API URL
        return json.loads(answer.read() or b"null")


def resume_paused_runs(api_url: str, model: str, version: int, *, decision: Literal["approve", "reject"],
                       reason: str, approver: str, timeout: float = 10.0) -> list[str]:
    """Resume every flow run paused on ``model`` v``version``'s approval form with the decision; the
    names of the runs resumed. Raises ``OSError`` (``urllib.error.URLError``) when the API cannot be reached."""
    paused = _post(api_url, "/flow_runs/filter",
                   {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}, "limit": 200}, timeout)
    prefix, resumed = pause_prefix(model, version), []
    for run in paused or []:
        details = (run.get("state") or {}).get("state_details") or {}
        if not str(details.get("pause_key") or "").startswith(prefix):
            continue
        answer = _post(api_url, f"/flow_runs/{run['id']}/resume",
                       {"run_input": {"decision": decision, "reason": reason, "approver": approver}}, timeout)
        if isinstance(answer, dict) and answer.get("status") == "ACCEPT":
            resumed.append(str(run.get("name") or run["id"]))
    return resumed


def describe_failure(exc: BaseException) -> str:
    """One line for a resume that could not be done (the decision stands)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"Prefect's API answered {exc.code} {exc.reason}"
    return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
