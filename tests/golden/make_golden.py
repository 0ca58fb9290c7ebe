"""Make one set of golden files: driftline's own formats as this release writes them.

The set under ``tests/golden/v<release>/`` is made ONCE, committed, and never regenerated: the
tests in this folder load and verify it with today's code, so a later release that can no longer
read, or no longer verify, what an earlier release wrote fails them. Run this script only when a
format deliberately changes, and then into a NEW folder (``--out tests/golden/v0.2.0``); it
refuses to write into a folder that exists, so an old set cannot be overwritten by accident.

    PYTHONPATH=$PWD python tests/golden/make_golden.py --out tests/golden/v0.1.0

What it writes, all through driftline's own code paths (the same pure functions the training
flow composes, without Prefect): a demo contract copied as it ships; a registry version folder
registered and signed by ``ModelRegistry.register`` (model, schema, reference profile, trials,
gate report JSON and HTML, metadata, ``model.sig``) for a tiny LightGBM model trained on 300
seeded rows; the signer's public key; a few rows with the model's predictions on them; and
``SHA256SUMS`` over every file, so that a changed golden file is noticed even where it is not
signed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from driftline.canonical import canonical_json  # noqa: E402
from driftline.settings import GateSettings  # noqa: E402
from governance.gate_report import GateReport  # noqa: E402
from governance.gates import Evidence, default_policy, evaluate_gate  # noqa: E402
from monitoring.profile import build_profile  # noqa: E402
from registry import KeyRing, ModelRegistry  # noqa: E402
from registry.lineage import build_lineage  # noqa: E402
from training.metrics import evaluate  # noqa: E402
from training.model import fit_final  # noqa: E402
from training.search import SearchConfig, run_search  # noqa: E402
from training.split import time_holdout  # noqa: E402

MODEL = "golden"
CONTRACT = "customer_activity.toml"
FEATURES = ("sessions", "minutes_active", "device")
CATEGORICAL = ("device",)
PASSPHRASE = b"golden files are public; this key signs nothing else"


def seeded_rows(n: int = 300, seed: int = 13) -> pl.DataFrame:
    """``n`` rows of a churn-like problem whose label depends on the features (AUC well above 0.5)."""
    rng = np.random.default_rng(seed)
    sessions = rng.integers(0, 40, n)
    minutes = np.round(rng.gamma(2.0, 20.0, n), 3)
    device = rng.choice(["mobile", "desktop", "tablet"], n)
    logit = 1.5 - 0.12 * sessions - 0.01 * minutes + (device == "tablet") * 0.8
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    times = [start + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 60, n))]
    return pl.DataFrame({"event_time": times, "sessions": sessions, "minutes_active": minutes,
                         "device": device, "churned": label})


def make(out: Path) -> None:
    if out.exists():
        raise SystemExit(f"{out} exists: golden sets are never overwritten; choose a new version folder")
    frame = seeded_rows()
    train, holdout = time_holdout(frame, "event_time", 0.25)
    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        config = SearchConfig(task="binary", n_trials=3, seed=7, n_threads=1, device="cpu",
                              max_rounds=40, studies_dir=tmp_path / "studies", study_name=f"{MODEL}-study")
        result = run_search(train, features=FEATURES, categorical=CATEGORICAL, label="churned",
                            time_column="event_time", config=config)
        model = fit_final(train, features=FEATURES, categorical=CATEGORICAL, label="churned", task="binary",
                          params=result.best_params, num_boost_round=result.refit_rounds, seed=7, n_threads=1)
        y = holdout["churned"].to_numpy()
        scores = np.asarray(model.predict(holdout), dtype=float)
        metrics = evaluate(y, scores, "binary")
        files: dict[str, bytes] = {p.name: p.read_bytes() for p in model.save(tmp_path / "model")}
        profile = build_profile(train, numeric=numeric, categorical=list(CATEGORICAL),
                                predictions=np.asarray(model.predict(train), dtype=float))
        files["reference_profile.json"] = profile.to_json()
        files["trials.json"] = canonical_json([asdict(t) for t in result.trials])
        # A loose gate, so that the tiny model is a promotable, accepted version.
        gate = GateSettings(min_auc=0.5, max_logloss=1.0, max_ece=0.5, min_training_rows=10)
        evidence = Evidence(candidate=metrics, y_true=y, candidate_scores=scores, training_rows=train.height,
                            quarantine_share=0.0, model_size_bytes=len(files["model.txt"]), latency_ms_per_1k=1.0)
        report: GateReport = evaluate_gate(default_policy(gate, has_champion=False), evidence,
                                           candidate=f"{MODEL} candidate", champion=None)
        files["gate_report.json"] = report.to_json()
        files["gate_report.html"] = report.to_html().encode()
        lineage = build_lineage(
            data_versions={"customer_activity": 0, "churn_labels": 0}, training_set_sha256="0" * 64,
            training_rows=train.height, holdout_rows=holdout.height, params=result.best_params,
            best_iteration=result.best_iteration, refit_rounds=result.refit_rounds, study=result.study_name,
            trials=len(result.trials), metrics=metrics, champion_metrics=None,
            gate_report_sha256=report.digest, reason="golden files")
        ring = KeyRing(tmp_path / "keys")
        key = ring.init(PASSPHRASE)
        registry = ModelRegistry(tmp_path / "registry", ring.trust)
        version = registry.register(MODEL, files=files, metadata=lineage,
                                    status="accepted" if report.passed else "rejected", key=key)

        out.mkdir(parents=True)
        shutil.copytree(version.path, out / "registry" / MODEL / str(version.version))
        (out / "keys").mkdir()
        (out / "keys" / "signer.pub").write_bytes(ring.trust.public_pem(key.key_id))
        (out / "contracts").mkdir()
        shutil.copy(ROOT / "features" / "contracts" / CONTRACT, out / "contracts" / CONTRACT)
        sample = holdout.head(8)
        predictions = {"rows": json.loads(sample.write_json()),
                       "predictions": [float(p) for p in model.predict(sample)]}
        (out / "predictions.json").write_bytes(canonical_json(predictions) + b"\n")
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}\n"
                   for p in sorted(out.rglob("*")) if p.is_file())
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    print(f"golden set written to {out} (version {version.version}, key {key.key_id[:16]}, "
          f"gate {report.verdict}, auc {metrics['auc']:.3f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder, e.g. tests/golden/v0.2.0")
    make(parser.parse_args().out)
