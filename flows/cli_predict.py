"""``predict``: the champion scores a file of rows as they are, like ``mlflow models predict``.

No flow runs and no Prefect is imported: the champion is loaded verified from the registry (an
alias or version that does not verify is an ``IntegrityError``, exit 3), and the work is the
Prefect-free use case :func:`usecases.predict_file.predict_file`, which checks the rows against the
model's schema and writes the output atomically. Its one line tells what was written.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _predict(args: argparse.Namespace) -> int:
    from driftline.errors import InputError
    from features.drop_guard import ReadLimits
    from tasks.workspace import Workspace
    from training.model import TrainedModel
    from usecases.predict_file import decision_threshold, predict_file

    if not args.input or not args.out:
        raise InputError("predict needs --input FILE and --out FILE",
                         hint="python -m flows predict --model churn --input rows.csv --out scored.csv")
    if not os.path.isfile(args.input):  # before the registry is opened: a typo answers at once
        raise InputError(f"no such file to score: {args.input}", hint="pass --input FILE (.csv, .parquet, .jsonl)")
    ws = Workspace.open(args.home, model_name=args.model)
    ws.settings.data_home.require_existing()
    name = ws.settings.model_name
    ref = args.version or "champion"
    version = ws.registry.load(name, int(ref) if ref.isdigit() else ref)
    model = TrainedModel.load(version.path)
    limits = ReadLimits(**ws.settings.ingest.model_dump())
    result = predict_file(model, Path(args.input), Path(args.out), name=name, version=version.version,
                          threshold=decision_threshold(model, version.metadata), limits=limits)
    print(f"{result.model} v{result.version} scored {result.rows} rows of {args.input} into {result.out} "
          f"(added {', '.join(result.added)})")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = commands.add_parser("predict", help="score a file of rows with the champion (no flow, no store write)")
    p.add_argument("--model")
    # Checked by the handler, not argparse: every command must parse with --home alone (tests/flows/test_cli_help).
    p.add_argument("--input", help="CSV, CSV.gz, Parquet or JSON Lines rows (required)")
    p.add_argument("--out", help="output file: .csv or .parquet, written atomically (required)")
    p.add_argument("--version", help="an alias or version number instead of the champion")
    p.set_defaults(handler=_predict)
