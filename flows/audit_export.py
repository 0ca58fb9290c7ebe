"""The audit-export flow (monthly cron): a signed, offline-verifiable bundle for an auditor.

The same use case as ``python -m flows audit export`` (``usecases.export``, in the task
``tasks.compliance.export``), with the same choices: one model, the analysts' formats, the PII
policy for columns tagged without their own, and a target folder or ``.zip``; as a deployment so
that compliance exports happen on schedule and show in the Prefect UI with their location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.catalog import LocalOnly
from tasks.compliance import export
from tasks.workspace import Workspace


@flow(name="audit-export", log_prints=True)
def audit_export_flow(since: str | None = None, until: str | None = None, home: LocalOnly[str | None] = None,
                      overrides: dict[str, Any] | None = None, model: str | None = None,
                      formats: list[Literal["jsonl", "csv", "parquet"]] | None = None,
                      pii: Literal["drop", "mask", "hash"] | None = None, out: str | None = None) -> str:
    """Export the audit entries of [since, until) with everything needed to verify them offline;
    with ``model``, only that model's entries and versions whole (the rest of the chain as links).

    Args:
        since: first entry time, ISO 8601 with an offset; the trail's start when empty.
        until: end of the export (exclusive), ISO 8601 with an offset; now when empty.
        home: the data home (local mode only; deployments read DRIFTLINE_HOME).
        overrides: settings overrides by section, e.g. {"training": {"n_trials": 5}}; none by default.
        model: export only this model's entries and versions; every model when empty.
        formats: also write the entries as entries.<format> for analysts (CSV is formula-safe).
        pii: the PII action of columns tagged pii = true (mask when empty); tightens, never loosens,
            a column's declared policy (hash < mask < drop).
        out: target folder, or a file ending in .zip for one archive; must not exist
            (default reports/audit-export-<time> in the data home).
    """
    ws = Workspace.open(home, **(overrides or {}))
    done = export(ws, since=since, until=until, model=model, pii_policy=pii,
                  formats=tuple(dict.fromkeys(formats or ())), out=Path(out) if out else None)
    treated = ", ".join(f"`{column}` {action}" for column, action in done.pii_actions) or "none tagged"
    create_markdown_artifact(key="audit-export", markdown=(
        f"Audit export written to `{done.path}`\n\nPII columns: {treated}. {done.report_note}\n\n"
        f"Verify offline: `python -m flows audit verify-export {done.path} --public-key KEY.pub`"),
        description="Compliance export bundle")
    return str(done.path)
