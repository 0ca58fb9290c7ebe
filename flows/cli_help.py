"""What every command's ``--help`` shows beyond its flags: an example, and ``--home`` in every place.

The command modules build the parser tree; :func:`finish` then walks it once, so a command added
anywhere (``registry promote``, ``audit export``, ``deployments render``) gets the same treatment
without its module knowing: ``--home`` is accepted after the command as well as before it, and the
command's example from :data:`EXAMPLES` becomes its epilog. A command without an example is an error
at build time, so the table cannot fall behind the commands (nor name one that no longer exists).

When ``--home`` is given more than once, the last one wins (after the command beats before it):
argparse copies a subcommand's values over its parent's, and a subcommand that was not given
``--home`` sets nothing (its default is :data:`argparse.SUPPRESS`). Imports no Prefect.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from driftline.errors import ConfigError

HOME_HELP = "data home (overrides DRIFTLINE_HOME); accepted before or after the command, the last one wins"

# Command path (the words after `python -m flows`) -> example lines. "" is the program itself.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("python -m flows --home ./.driftline demo", "python -m flows registry list --home ./.driftline"),
    "demo": ("python -m flows demo --home /tmp/demo --customers 800 --trials 6",),
    "ingest": ("python -m flows ingest", "python -m flows ingest landing/customers/day-061.csv",
               "python -m flows ingest ~/exports/march/ --group customers"),
    "train": ("python -m flows train --model churn --trials 20 --reason 'new features'",),
    "monitor": ("python -m flows monitor --model churn --window-days 14",
                "python -m flows monitor --model churn --since 2026-03-01 --until 2026-04-01",
                "python -m flows monitor --model churn --source served --window-days 7"),
    "score": ("python -m flows score --model churn", "python -m flows score --model churn --out scores.parquet"),
    "predict": ("python -m flows predict --model churn --input rows.csv --out scored.parquet",),
    "predict-server": ("python -m flows predict-server --port 8080",
                       "python -m flows predict-server --model churn@champion --model churn@challenger "
                       "--token-file serve.token"),
    "run": ("python -m flows run retrain -p model=churn -p idempotency_key=manual-1",),
    "registry": ("python -m flows registry list", "python -m flows registry verify --all"),
    "registry list": ("python -m flows registry list churn",),
    "registry show": ("python -m flows registry show churn champion",
                      "python -m flows registry show churn 3 --card"),
    "registry verify": ("python -m flows registry verify churn 3", "python -m flows registry verify --all"),
    "registry promote": ("python -m flows registry promote churn 3 --reason 'approved by risk'",),
    "registry rollback": ("python -m flows registry rollback churn --reason 'AUC dropped in production'",),
    "registry resign": ("python -m flows registry resign --all",),
    "registry approve": ("python -m flows registry approve churn 3 --reason 'reviewed the gate'",),
    "registry reject": ("python -m flows registry reject churn 3 --reason 'bias on region'",),
    "registry pending": ("python -m flows registry pending", "python -m flows registry pending churn"),
    "registry expire": ("python -m flows registry expire", "python -m flows registry expire churn"),
    "audit": ("python -m flows audit verify", "python -m flows audit export --since 2026-01-01"),
    "audit verify": ("python -m flows audit verify --home ./.driftline",),
    "audit checkpoint": ("python -m flows audit checkpoint",),
    "audit repair-tail": ("python -m flows audit repair-tail",),
    "audit export": ("python -m flows audit export --since 2026-01-01 --until 2026-04-01 --out /tmp/q1",),
    "audit verify-export": ("python -m flows audit verify-export /tmp/q1 --public-key auditor.pub",),
    "contract": ("python -m flows contract infer customers.csv --group customers --entity customer_id "
                 "--time updated_at",),
    "contract infer": ("python -m flows contract infer landing/orders/ --group orders --entity order_id "
                       "--time ordered_at",
                       "python -m flows contract infer visits.csv.gz --group visits --entity @row --time seen_at "
                       "--label converted --task binary"),
    "erase": ("python -m flows erase C000123 C000456 --reason 'GDPR request 2026-17'",),
    "enforce-retention": ("python -m flows enforce-retention",),
    "keys": ("python -m flows keys list", "python -m flows keys rotate", "python -m flows keys revoke KEY_ID"),
    "serve": ("python -m flows serve --limit 4",),
    "watch": ("python -m flows watch --interval 10", "python -m flows watch --once"),
    "deployments": ("python -m flows deployments render --check",),
    "server": ("python -m flows server start", "python -m flows server status", "python -m flows server stop"),
    "server start": ("python -m flows server start --idle-minutes 60",),
    "server stop": ("python -m flows server stop",),
    "server status": ("python -m flows server status --home ./.driftline",),
    "deployments render": ("python -m flows deployments render --write",),
    "serving": ("python -m flows serving compare --model churn",),
    "serving compare": ("python -m flows serving compare --model churn --since 2026-03-01 --until 2026-03-08",),
}


class ExampleFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that the examples keep their lines (wrapping would break them)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(("example:\n", "examples:\n")):  # our epilog; a description is filled
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def walk(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the tree with its command path, the root first ("" for the program)."""
    yield path, parser
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public walk of subparsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}".strip())


def finish(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--home`` to every subcommand and every command's example as its epilog."""
    paths = set()
    for path, sub in walk(parser):
        paths.add(path)
        if path not in EXAMPLES:
            raise ConfigError(f"command {path!r} has no example in flows/cli_help.EXAMPLES",
                              hint="add one: every --help shows an example")
        lines = EXAMPLES[path]
        sub.epilog = ("example:\n" if len(lines) == 1 else "examples:\n") + "\n".join(f"  {e}" for e in lines)
        sub.formatter_class = ExampleFormatter
        if path:  # the program's own --home is added with the other global flags
            sub.add_argument("--home", default=argparse.SUPPRESS, help=HOME_HELP)
    stale = sorted(set(EXAMPLES) - paths)
    if stale:
        raise ConfigError(f"flows/cli_help.EXAMPLES names commands that do not exist: {', '.join(stale)}",
                          hint="remove them or fix their names")
    return parser
