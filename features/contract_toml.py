"""The TOML writer of feature-group contracts, with comments for the person who reviews them.

``contract infer`` writes a contract for a person to read, correct and commit, so each choice it
made stands next to the line it chose (why a column is ``pii``, where a range came from, which
values were seen). tomllib reads TOML but does not write it, and the format of a contract is
small (top-level scalars and lists, then ``[[columns]]`` tables of scalars and string lists), so
this is a small writer rather than a dependency. Its law: ``load_contract`` of what
:func:`contract_toml` writes equals the contract given, whatever the strings hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from features.contracts import FeatureGroupContract, format_ttl

_TOP = ("name", "version", "description", "entity_keys", "event_time", "ttl", "retention_days", "duplicates",
        "label", "task", "undeclared")
_COLUMN = ("name", "dtype", "nullable", "min", "max", "allowed", "categorical", "pii", "parse", "generated",
           "pattern", "description")


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest as is."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _comment(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.splitlines()] if text else []


def contract_toml(contract: FeatureGroupContract, *, header: str = "", notes: Mapping[str, str] | None = None,
                  column_notes: Mapping[str, Sequence[str]] | None = None) -> str:
    """The contract as TOML. ``header`` opens the file as comments; ``notes`` puts a comment after a
    top-level key; ``column_notes`` puts comment lines at the head of a column's table."""
    notes, column_notes = notes or {}, column_notes or {}
    data = contract.to_dict()
    data["ttl"] = format_ttl(contract.ttl)
    lines = _comment(header)
    for key in _TOP:
        if data.get(key) is not None and data.get(key) != "":
            line = f"{key} = {toml_value(data[key])}"
            lines.append(line + (f"  # {notes[key]}" if key in notes else ""))
    for column in contract.columns:
        lines += ["", "[[columns]]", *_comment("\n".join(column_notes.get(column.name, ())))]
        fields = {k: getattr(column, k) for k in _COLUMN}
        for key in _COLUMN:
            value = fields[key]
            if value is None or (key in ("pii", "categorical") and not value) or (key == "description" and not value):
                continue
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"
