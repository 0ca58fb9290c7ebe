"""The commands that run flows: ``demo``, ``ingest``, ``train``, ``monitor``, ``score``, ``run``.

Each runs its flow, and every flow the flow's events trigger, in this one process through
``flows.local`` (one temporary Prefect server per command, or the data home's shared local server
when one runs: ``flows.local_server``). Prefect is configured through its
environment variables before it is first imported: quiet logs unless ``--verbose``, no telemetry.
driftline's own settings are not: ``--home`` and the flags (``--trials``) are passed down to every
flow of the command as parameters (``home``, ``overrides``), over the ``DRIFTLINE_*`` environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.errors import InputError
from flows.cli_args import parse_flow_params, positive_float, positive_int, table_file, utc_time

EXIT_USER = 2  # flows.cli's code for a user's error (not imported: flows.cli imports this module)

if TYPE_CHECKING:
    from flows.local import LocalRun


def _prepare_prefect(args: argparse.Namespace) -> None:
    # Before anything is spawned: Prefect's temporary server, and whatever else this command starts,
    # dies with this process, even on SIGKILL (see flows.lifeline).
    from flows.lifeline import tie_children_to_this_process

    tie_children_to_this_process()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect waits 20 s for its temporary server; on a loaded 2-core machine it took longer and the
    # command ended in "Failed to reach API" (exit 70). A slow start is not an error.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # Before LightGBM's OpenMP runtime loads: idle threads sleep instead of spinning. On a busy
    # 2-core machine spinning threads stalled fits 3-11x (measured); passive waiting costs ~nothing.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        _refresh_prefect_settings()
        from flows.console import quiet_console

        quiet_console()
    import warnings

    warnings.formatwarning = lambda message, category, *_, **__: f"warning: {message}\n"


def _refresh_prefect_settings() -> None:
    """Prefect reads its settings from the environment when first imported; in a warm runner's child
    (:mod:`flows.warm`) it already was, so the variables set above are read again here."""
    warm = sys.modules.get("flows.warm")
    if warm is not None and warm.IN_CHILD and "prefect.context" in sys.modules:
        sys.modules["prefect.context"].refresh_global_settings_context()


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The command's flags as settings overrides, shaped like the settings (they win over DRIFTLINE_*)."""
    training: dict[str, Any] = {}
    if getattr(args, "trials", None) is not None:  # validated at parse time (>= 1)
        training["n_trials"] = args.trials
    if getattr(args, "budget", None) is not None:  # validated at parse time (> 0)
        training["timeout_s"] = args.budget
    return {"training": training} if training else {}


def _run(args: argparse.Namespace, name: str, **params: Any) -> LocalRun:
    _prepare_prefect(args)
    # Before Prefect is imported: the home's shared local server, when one runs (or DRIFTLINE_LOCAL_SERVER
    # is on), instead of a temporary server of this command's own (flows.local_server).
    from driftline.home import DataHome
    from flows.local_server import attach

    with attach(DataHome(Path(args.home or os.environ.get("DRIFTLINE_HOME") or ".driftline"))) as shared:
        _refresh_prefect_settings()  # PREFECT_API_URL, set by attach
        if shared is not None and not args.verbose:
            # At exit Prefect's events worker sends the runs' events to the server and warns "Still
            # processing items" meanwhile (a temporary server is stopped before it would): not a fault.
            import logging

            logging.getLogger("EventsWorker").setLevel(logging.ERROR)
        return _run_flows(args, name, **params)


def _run_flows(args: argparse.Namespace, name: str, **params: Any) -> LocalRun:
    from flows.local import Dispatched, run_local

    def announce(d: Dispatched) -> None:
        print(f"  event {d.event} -> {d.deployment}: {d.flow} {d.parameters}")

    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    from flows.progress_bar import terminal_bars

    try:
        with terminal_bars():  # bars for long loops (drops, trials, export steps) on a terminal only
            return run_local(name, home=args.home, overrides=overrides(args), on_dispatch=announce, **params)
    except (ParameterTypeError, SignatureMismatchError) as exc:
        raise InputError(f"flow {name!r} got invalid parameters: {' '.join(str(exc).split())}") from exc


def _demo(args: argparse.Namespace) -> int:
    if not args.verbose:  # the summary accounts for every quarantined row; --verbose shows each file
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    _prepare_prefect(args)
    from flows.demo import demo_overrides, print_summary, run_demo
    from flows.progress_bar import terminal_bars

    with terminal_bars():
        summary = run_demo(customers=args.customers, seed=args.seed, home=args.home,
                           overrides=demo_overrides(overrides(args), os.environ))
    print_summary(summary)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    # Checked before Prefect starts: a typo, or a folder without data, should not cost a server start-up.
    if args.group is not None and not args.files:  # else every group's landing drops would be taken as its
        raise InputError(f"--group {args.group} names the group of the files given, and none was given",
                         hint=f"name them: python -m flows ingest FILE|FOLDER --group {args.group}")
    missing = [f for f in args.files if not os.path.lexists(f)]
    if missing:
        raise InputError(f"no such file to ingest: {', '.join(missing)}",
                         hint="name files or folders that exist, or drop files under landing/<group>/")
    from usecases.ingest import folder_files

    for name in args.files:
        if os.path.isdir(name) and not os.path.islink(name):
            folder_files(Path(name).absolute())  # InputError naming a folder without data files
    if not args.verbose:  # the summary accounts for every quarantined row; --verbose shows each file's warning
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    run = _run(args, "ingest", paths=[os.path.abspath(f) for f in args.files] or None,
               **({"group": args.group} if args.group else {}))
    from features.ingest import IngestReport  # after _run configured Prefect and OpenMP
    from flows.local import expect
    from usecases.ingest_summary import nothing_stored, summarize

    reports = [expect(r, IngestReport, "ingest") for r in run.result_as(list)]
    stored = sum(r.rows_stored for r in reports)
    quarantined = sum(r.rows_quarantined for r in reports)
    print(f"ingested {len(reports)} file(s): {stored} rows stored, {quarantined} quarantined, "
          f"{sum(r.status == 'duplicate' for r in reports)} duplicate file(s) skipped")
    for summary in summarize(reports):
        print("\n".join(summary.lines()))
    failed = nothing_stored(reports)
    if failed is not None:  # the audit trail has recorded every quarantine: recorded, never lost
        print(f"error: {failed}", file=sys.stderr)
        return EXIT_USER
    return 0


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _declare(args: argparse.Namespace) -> str | None:
    """Before Prefect starts: the model's declared spec, made from the flags on first use (a typo
    in a group or column answers at once, in one line)."""
    flags = (args.group, args.label, args.task, args.features, args.exclude, args.positive)
    if args.model is None:
        if any(f is not None for f in flags):
            raise InputError("--group, --label, --task, --features, --exclude and --positive declare a model: name it",
                             hint="add --model NAME")
        return None
    from tasks.workspace import Workspace
    from usecases.declare import declare_model

    ws = Workspace.open(args.home)
    ws.home  # noqa: B018 - the data home exists (or is refused) before a spec is written into it
    spec, created, path = declare_model(
        ws, args.model, group=args.group, label=args.label, task=args.task, features=_names(args.features),
        exclude=_names(args.exclude), budget_s=args.budget, trials=args.trials,
        positive=args.positive)
    if created:
        print(f"declared model {spec.name!r} in {path}")
    return spec.name


def _declared(args: argparse.Namespace) -> str | None:
    """Before Prefect starts: ``--model NAME`` names a declared model (or the demo's), else one line, exit 2."""
    if args.model is None:
        return None
    from tasks.workspace import Workspace
    from usecases.models import models_folder, resolve_spec

    return resolve_spec(models_folder(Workspace.open(args.home).settings), args.model).name


def _headline(metrics: dict[str, float]) -> str:
    """The holdout metric a person reads first: AUC (binary), RMSE (regression), else log loss."""
    for name, label in (("auc", "AUC"), ("rmse", "RMSE"), ("logloss", "log loss")):
        if name in metrics:
            return f"{label} {metrics[name]:.4f}"
    return "metrics " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def _train(args: argparse.Namespace) -> int:
    run = _run(args, "train", model=_declare(args), reason=args.reason)
    from usecases.outcomes import TrainOutcome

    o = run.result_as(TrainOutcome)
    print(f"{o.model} v{o.version}: {o.status}{' and promoted to champion' if o.promoted else ''}; "
          f"holdout {_headline(o.metrics)}; gate report {o.gate_report}")
    if o.positive is not None:
        print(f"  class 1 (positive): {o.positive!r}; scores are P({o.positive}), decision 1 means {o.positive}")
    for reason in o.reasons:
        print(f"  rejected because {reason}")
    if o.approval == "pending":
        print(f"{o.model} v{o.version} waits for approval: python -m flows registry approve {o.model} {o.version} "
              f"--reason ... (or registry reject; registry pending lists what waits)")
    return 0


def _monitor(args: argparse.Namespace) -> int:
    run = _run(args, "monitor", model=_declared(args), window_days=args.window_days, since=args.since,
               until=args.until, source=args.source)
    from usecases.monitor import MonitorResult, verdict_lines

    print("\n".join(verdict_lines(run.result_as(MonitorResult))))
    return 0


def _score(args: argparse.Namespace) -> int:
    run = _run(args, "score", model=_declared(args), out=os.path.abspath(args.out) if args.out else None)
    from flows.score import ScoreOutcome  # imports Prefect: after _run configured it

    o = run.result_as(ScoreOutcome)
    print(f"{o.model} v{o.version} scored {o.rows} entities as of {o.as_of} (predictions v{o.delta_version})"
          + (f"; written to {o.out}" if o.out else ""))
    return 0


def _run_any(args: argparse.Namespace) -> int:
    params = parse_flow_params(args.flow, args.param)  # before Prefect starts: a typo answers at once
    print(_run(args, args.flow, **params).result)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo", help="the whole loop on generated data, no server needed")
    p.add_argument("--customers", type=positive_int, default=1500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--trials", type=positive_int, default=12, help="Optuna trials per training run")
    p.set_defaults(handler=_demo)
    p = commands.add_parser("ingest", help="ingest drops from landing/ (or the named files and folders)")
    p.add_argument("files", nargs="*", metavar="FILE|FOLDER",
                   help="files, or folders (their data files, not subfolders); default: every drop in landing/")
    p.add_argument("--group", help="the feature group of every named file (its contract validates them); "
                                   "default: the file's folder under landing/")
    p.set_defaults(handler=_ingest, warm=True)
    p = commands.add_parser("train", help="train, gate, register and maybe promote a new version")
    p.add_argument("--model", help="declared model to train (default the demo's, churn); made from the "
                                    "flags below on first use and read from <home>/models/NAME.toml after")
    p.add_argument("--group", help="first use: the feature group holding the label column")
    p.add_argument("--label", help="first use: the label column")
    p.add_argument("--task", choices=("binary", "multiclass", "regression"),
                   help="first use: the task (default the label group contract's)")
    p.add_argument("--features", metavar="G1,G2", help="first use: feature groups (default the label group)")
    p.add_argument("--exclude", metavar="C1,C2", help="first use: columns never used as features")
    p.add_argument("--positive", metavar="VALUE",
                   help="first use, binary: the label value that is class 1 (default: 1/true, else the "
                        "second of the two values in sorted order)")
    p.add_argument("--trials", type=positive_int, help="Optuna trials (default the spec's, else the settings')")
    p.add_argument("--budget", type=positive_float, metavar="SECONDS",
                   help="search wall-time budget (default the spec's, else none)")
    p.add_argument("--reason", default="manual")
    p.set_defaults(handler=_train, warm=True)
    p = commands.add_parser("monitor", help="drift of the current window against the champion")
    p.add_argument("--model")
    p.add_argument("--window-days", type=positive_int, help="days in the current window (default 30)")
    p.add_argument("--since", type=utc_time, help="first moment of the window (ISO date or time, UTC)")
    p.add_argument("--until", type=utc_time, help="end of the window, excluded (default: just after the newest row)")
    p.add_argument("--source", choices=("store", "served"), default="store",
                   help="the current window: rows that arrived in the store (default), or what the "
                        "prediction server answered as champion")
    p.set_defaults(handler=_monitor, warm=True)
    p = commands.add_parser("score", help="score every entity's latest features with the champion")
    p.add_argument("--model")
    p.add_argument("--out", type=table_file, help="also write the batch to this .csv or .parquet file")
    p.set_defaults(handler=_score, warm=True)
    p = commands.add_parser("run", help="run any flow by name in-process (ingest, train, retrain, ...)")
    p.add_argument("flow")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE")
    p.set_defaults(handler=_run_any, warm=True)
