"""``python -m flows contract infer``: a contract proposed from data, for a person to review.

It runs no flow and imports no Prefect: it reads a sample (``features.infer``), prints what it
inferred, the PII suspects, the parse choices, the task and its doubts, and writes
``<contracts>/NAME.toml`` (``DRIFTLINE_CONTRACTS_DIR`` if set, else ``<home>/contracts``, which the
workspace reads over the demo's contracts). An existing contract is never replaced without
``--force``; the file is written atomically (a kill leaves the old file or the new one).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from driftline.atomic import fault_point, write_atomic
from driftline.errors import InputError


def add_commands(commands: argparse._SubParsersAction) -> None:
    contract = commands.add_parser("contract", help="propose feature-group contracts from data")
    subs = contract.add_subparsers(dest="contract_command", metavar="SUBCOMMAND", required=True)
    infer = subs.add_parser(
        "infer", help="write contracts/NAME.toml inferred from a sample of DATA, for review",
        description="Read a sample of DATA (a .csv, .csv.gz, .parquet or .jsonl file, or a folder of them) and "
                    "write a contract for it: types, nullability, widened ranges, allowed values, PII suspects, "
                    "parsed currency/percent/thousands, the task. Review it, then commit it.",
    )
    infer.add_argument("data", metavar="DATA", help="a data file or a folder of them")
    infer.add_argument("--group", required=True, metavar="NAME", help="the feature group's name (the file's name)")
    infer.add_argument("--entity", required=True, metavar="COL[,COL]",
                       help="entity key column(s), comma-separated; @row for a generated row id")
    infer.add_argument("--time", metavar="COL", help="the event-time column (required: point-in-time joins need it)")
    infer.add_argument("--label", metavar="COL", help="the label column, for a labels group")
    infer.add_argument("--task", choices=("binary", "multiclass", "regression"),
                       help="the label's task (default: guessed from the label's values)")
    infer.add_argument("--rows", type=int, default=10_000, metavar="N", help="rows to sample (default 10000)")
    infer.add_argument("--force", action="store_true", help="replace an existing contract of that name")
    infer.set_defaults(handler=_infer)


def contracts_folder(home: str | None = None) -> Path:
    """``DRIFTLINE_CONTRACTS_DIR`` if set, else ``<home>/contracts`` (``--home`` wins over ``DRIFTLINE_HOME``)."""
    from driftline.settings import load_settings  # pydantic-settings: not for every command's parser

    settings = load_settings(**({"home": Path(home)} if home else {}))
    return Path(settings.contracts_dir) if settings.contracts_dir is not None else Path(settings.home) / "contracts"


def _infer(args: argparse.Namespace) -> int:
    from features.contract_toml import contract_toml
    from features.infer import infer_contract

    if args.task and not args.label:
        raise InputError("--task without --label", hint="name the label column with --label COL")
    if args.rows < 1:
        raise InputError(f"--rows {args.rows}: expected a positive number of rows", hint="e.g. --rows 10000")
    entity = [c.strip() for c in args.entity.split(",") if c.strip()]
    if not entity:
        raise InputError("--entity names no column", hint="e.g. --entity customer_id, or --entity @row")
    target = contracts_folder(args.home) / f"{args.group}.toml"
    if target.exists() and not args.force:  # checked first: no sample is read for nothing
        raise InputError(f"{target} exists; it was not replaced",
                         hint="review and edit it, or pass --force to replace it")
    result = infer_contract(Path(args.data), group=args.group, entity=entity, time=args.time, label=args.label,
                            task=args.task, rows=args.rows)
    contract = result.contract
    header = (f"Contract of feature group {contract.name!r}, inferred by `python -m flows contract infer` from\n"
              f"{', '.join(result.files)} ({result.rows_sampled} rows sampled). Review every line, then commit it:\n"
              "ranges and allowed values are what the sample showed, widened; pii marks suspects.")
    notes = {"duplicates": result.notes["@duplicates"][0]}
    if result.task_note:
        notes["task"] = result.task_note.split(": ", 1)[1].split(";")[0]
    text = contract_toml(contract, header=header, notes=notes,
                         column_notes={k: v for k, v in result.notes.items() if not k.startswith("@")})
    _print(result)
    fault_point("contract_infer.before_write")
    write_atomic(target, text.encode("utf-8"))
    fault_point("contract_infer.written")
    print(f"wrote {target}: review it, then commit it (ingestion reads it for group {contract.name!r})")
    return 0


def _print(result) -> None:  # noqa: ANN001 - features.infer.Inference, imported late
    contract = result.contract
    print(f"inferred {contract.name!r} from {len(result.files)} file(s), {result.rows_sampled} rows sampled")
    print(f"  entity: {', '.join(contract.entity_keys)}   time: {contract.event_time}   "
          f"duplicates: {contract.duplicates}")
    for column in contract.columns:
        extras = [x for x in ("nullable" if column.nullable else "",
                              f"{column.min:g}..{column.max:g}" if column.min is not None else "",
                              f"allowed {len(column.allowed)}" if column.allowed else "",
                              f"parse {column.parse}" if column.parse else "",
                              f"pii {column.pii}" if isinstance(column.pii, str) else "pii" if column.pii else "",
                              "generated" if column.generated else "") if x]
        print(f"  {column.name:<24} {column.dtype:<9} {' '.join(extras)}")
    if result.pii:
        print('PII suspects (tagged pii = "mask": exports mask them; "hash" keeps them joinable, "drop" leaves '
              "them out; confirm or remove):")
        for found in result.pii:
            print(f"  {found.column}: {found.why}")
    for choice in result.parsed:
        print(f"parse: {choice}")
    if result.task_note:
        print(result.task_note)
    if result.doubts:
        print("unsure of:")
        for doubt in result.doubts:
            print(f"  {doubt}")
