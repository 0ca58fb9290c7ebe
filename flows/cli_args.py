"""Arguments checked before anything runs: numeric flags at parse time, ``run -p NAME=VALUE``
against the flow's own signature, each failure one line with exit 2.

A bad flag must answer at once, so nothing here imports Prefect: a flow's parameters are read
from its source with :mod:`ast` (the catalog's entrypoints name the file and the function), not
by importing the flow module, which would import Prefect and take seconds.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from driftline.errors import InputError
from flows.catalog import FLOWS

REPO = Path(__file__).resolve().parent.parent
# The data home comes from --home and settings overrides from the command's flags, for every flow alike.
NOT_A_PARAMETER = {"home", "overrides"}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix (exit 2, as argparse's own)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _number(kind: Callable[[str], Any], floor: float, inclusive: bool, words: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if value < floor or (not inclusive and value == floor):
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}")
        return value

    parse.__name__ = words  # argparse names the type in some messages
    return parse


positive_int = _number(int, 1, True, "a whole number of 1 or more")
positive_float = _number(float, 0, False, "a number above 0")
non_negative_float = _number(float, 0, True, "a number of 0 or more")


def utc_time(text: str) -> str:
    """A ``--since``/``--until`` value: an ISO date or date-time, UTC unless it names an offset,
    returned as ISO-8601 text with its offset (flows take it as text and read it back)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date such as 2026-03-01 or 2026-03-01T12:00:00Z, "
                                         f"got {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


utc_time.__name__ = "a date"


def table_file(text: str) -> str:
    """An output file named .csv or .parquet (checked at parse time, before any flow starts)."""
    if Path(text).suffix.lower() not in (".csv", ".parquet"):
        raise argparse.ArgumentTypeError(f"expected a file named .csv or .parquet, got {text!r}")
    return text


table_file.__name__ = "a .csv or .parquet file"


def flow_parameters(flow: str) -> dict[str, str]:
    """The parameters a user may pass to ``flow`` (name -> annotation text), read from its source."""
    try:
        path, function = FLOWS[flow].split(":")
    except KeyError:
        raise InputError(f"unknown flow {flow!r}", hint=f"choose one of {', '.join(FLOWS)}") from None
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            return {a.arg: ast.unparse(a.annotation) if a.annotation else "" for a in args
                    if a.arg not in NOT_A_PARAMETER}
    raise InputError(f"flow {flow!r}: no function {function} in {path}", hint="fix flows/catalog.py")


def _coerce(flow: str, name: str, value: str, annotation: str) -> Any:
    kinds = {part.strip() for part in annotation.split("|")}
    if "None" in kinds and value.lower() in ("none", "null"):
        return None
    wanted = ""
    try:
        if "int" in kinds:
            wanted = "a whole number"
            return int(value)
        if "float" in kinds:
            wanted = "a number"
            return float(value)
        if "bool" in kinds:
            wanted = "true or false"
            return {"true": True, "false": False}[value.lower()]
        if any(k.startswith("list") for k in kinds):
            return [item for item in value.split(",") if item]
        literal = next((k for k in kinds if k.startswith("Literal[")), None)
        if literal is not None:  # one of the values the annotation names, e.g. Literal['store', 'served']
            choices = [str(c) for c in ast.literal_eval(f"[{literal[len('Literal['):-1]}]")]
            wanted = "one of " + ", ".join(choices)
            if value not in choices:
                raise ValueError(value)
            return value
        if any(k.startswith("dict") for k in kinds):
            wanted = "a JSON object"
            parsed = json.loads(value)
            if not isinstance(parsed, dict):
                raise ValueError(value)
            return parsed
    except (ValueError, KeyError):
        raise InputError(f"flow {flow!r}: parameter {name}={value!r} is not {wanted}",
                         hint=f"pass -p {name}=<{wanted}>") from None
    return value


def parse_flow_params(flow: str, pairs: list[str]) -> dict[str, Any]:
    """``-p NAME=VALUE`` pairs, checked against the flow's parameters and typed by their annotations."""
    known = flow_parameters(flow)
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise InputError(f"parameter {pair!r} is not NAME=VALUE", hint="write -p NAME=VALUE")
        if name not in known:
            hint = {"home": "the data home is --home",
                    "overrides": "settings come from DRIFTLINE_* variables"}.get(name) or \
                f"its parameters are {', '.join(known) or '(none)'}"
            raise InputError(f"flow {flow!r} has no parameter {name!r}", hint=hint)
        params[name] = _coerce(flow, name, value, known[name])
    return params

