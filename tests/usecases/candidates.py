"""A candidate's pieces for the use-case tests (importable by tests and their child processes)."""

from __future__ import annotations

from governance.gate_report import CheckResult, GateReport

PASSPHRASE = "correct horse battery staple"
FILES = {"model.txt": b"tree\n" * 100, "model_schema.json": b"{}"}


def gate_report(passed: bool = True) -> GateReport:
    check = CheckResult(name="auc", passed=passed, observed=0.8, expected=">= 0.7", detail="holdout")
    return GateReport(passed=passed, verdict="promote" if passed else "reject", checks=(check,),
                      policy="all_of(auc)", candidate="churn candidate", champion=None,
                      created_at="2024-05-01T00:00:00.000000Z")


def lineage(seed: str = "a") -> dict:
    return {"reason": "test", "data": {"delta_versions": {"customer_activity": 0}, "training_set_sha256": "f" * 64,
                                       "training_rows": 3, "holdout_rows": 1},
            "search": {"study": "s", "trials": 1, "best_iteration": 1, "refit_rounds": 1,
                       "params": {"num_leaves": 7, "seed": seed}},
            "metrics": {"auc": 0.8}, "gate_report_sha256": gate_report().digest}
