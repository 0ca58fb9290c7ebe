"""``serving compare``: the champion against its shadow or canary challenger on served traffic.

No flow runs and no Prefect is imported: the handler resolves the model, reads each served
version's decision threshold and the champion's classes from the registry (loaded verified: numbers
that will be cited as evidence come from verified versions only), calls the Prefect-free use case
:func:`usecases.serving_compare.compare_served` (which writes the report and the ``serving.compare``
audit entry) and prints what it found.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from flows.cli_args import non_negative_float, positive_int, utc_time


def _compare(args: argparse.Namespace) -> int:
    from driftline.errors import InputError
    from tasks.workspace import Workspace
    from training.model import TrainedModel
    from usecases.serving_compare import compare_served

    if not args.model:
        raise InputError("serving compare needs --model NAME", hint="python -m flows serving compare --model churn")
    ws = Workspace.for_model(args.home, args.model)
    ws.settings.data_home.require_existing()
    name = ws.settings.model_name
    thresholds: dict[int, float | None] = {}

    def threshold_of(version: int) -> float | None:
        if version not in thresholds:
            loaded = ws.registry.load(name, version)
            thresholds[version] = (loaded.metadata.get("metrics") or {}).get("threshold")
        return thresholds[version]

    classes: tuple[object, ...] = ()
    if ws.registry.alias(name, "champion") is not None:
        champion = TrainedModel.load(ws.registry.load(name, "champion").path)
        classes = tuple(champion.schema.classes) if champion.task == "binary" else ()
    label_group = ws.settings.label_group
    result = compare_served(
        ws.store, name, reports=ws.home.reports, audit=ws.audit, actor=ws.actor(),
        since=datetime.fromisoformat(args.since) if args.since else None,
        until=datetime.fromisoformat(args.until) if args.until else None, window_days=args.window_days,
        tolerance=args.tolerance, threshold_of=threshold_of, label_contract=ws.contracts.get(label_group),
        label=ws.spec.label_column if ws.spec else None, classes=classes,
        horizon=timedelta(days=ws.settings.drift.label_horizon_days), sign=ws.signing_key)
    agreement = ("no paired requests" if result.agreement is None
                 else f"agreement {result.agreement:.2%} on {result.paired_rows} paired rows ({result.agreement_rule})")
    print(f"{name} {result.mode} over [{result.since.isoformat()}, {result.until.isoformat()}): {agreement}; "
          f"PSI {result.psi:.3f} of the challenger's scores against the champion's; report {result.report}")
    for side, summary in (("champion", result.champion), ("challenger", result.challenger)):
        perf = summary.performance or {}
        auc = (f", AUC {perf['auc_current']:.3f} on {int(perf['labelled_rows'])} labelled"
               if "auc_current" in perf else "")
        versions = ", ".join(f"v{v}" for v in summary.versions)
        print(f"  {side} {versions}: {summary.rows} rows, median score "
              f"{summary.quantiles[2] if summary.quantiles else float('nan'):.4f}{auc}")
    return 0


def _no_command(args: argparse.Namespace) -> int:
    from driftline.errors import InputError

    raise InputError("serving needs a command", hint="python -m flows serving compare --model NAME")


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("serving", help="online serving's reports over the served-predictions table")
    # Not required by argparse (every command parses with --home alone); the group's handler says what is missing.
    sub = group.add_subparsers(dest="serving_command", metavar="COMMAND")
    group.set_defaults(handler=_no_command)
    p = sub.add_parser("compare", help="champion against its shadow or canary challenger on served traffic")
    # Checked by the handler, not argparse: every command must parse with --home alone (tests/flows/test_cli_help).
    p.add_argument("--model", help="the served model (required)")
    p.add_argument("--since", type=utc_time, help="first moment of the window (ISO date or time, UTC)")
    p.add_argument("--until", type=utc_time, help="end of the window, excluded (default: just after the newest row)")
    p.add_argument("--window-days", type=positive_int, default=30, help="days in the window when --since is not given")
    p.add_argument("--tolerance", type=non_negative_float,
                   help="regression: largest |difference| that counts as agreement (default 5%% of the "
                        "champion's prediction standard deviation)")
    p.set_defaults(handler=_compare)
