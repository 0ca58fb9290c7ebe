"""The reconcile step every writing flow starts with: crashed runs' changes get their audit entries.

A thin task over :func:`usecases.reconcile.reconcile`; it logs what it recovered.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.runtime import run_logger
from tasks.workspace import Workspace
from usecases.reconcile import ReconcileReport, reconcile


@task(name="reconcile-audit", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def reconcile_on_start(ws: Workspace) -> ReconcileReport:
    report = reconcile(ws)
    if report.recovered or report.unverified:
        run_logger().warning("reconcile: recovered %d drop(s), %d score(s), %d version(s), %d alias change(s); "
                             "%d version(s) fail verification and were not recorded", report.drops,
                             report.scores, report.versions, report.alias_changes, len(report.unverified))
    return report
