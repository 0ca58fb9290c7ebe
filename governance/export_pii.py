"""How PII-tagged columns leave in a compliance export: dropped, masked or hashed with a keyed hash.

A contract tags a column ``pii = true`` or declares its policy, ``pii = "drop"|"mask"|"hash"``.
:func:`resolve_actions` turns the declarations into one action per column: a declared policy is
kept; the export's ``--pii`` is the policy of columns tagged without one (``mask`` when not
given) and may tighten a declared policy, never loosen it (strictness: ``hash`` < ``mask`` <
``drop``; ``hash`` is weakest since equal values give equal tokens). So every tagged column
has one of the three actions and none can leave in clear. :class:`PiiPolicy` applies them: any
audit-entry detail field of a tagged name, at any depth, is removed (``drop``), replaced by
``"[masked]"`` (``mask``) or by ``"hmac-sha256:<hex>"`` of its canonical JSON (``hash``), so the
same identifier maps to the same token across entries and exports of one key, and an analyst can
join on it without seeing it. A field's whole value is treated, so a nested mapping under a tagged
name (a drift report's category counts of the column) goes as one. The hash key is derived from
the exporter's signing key (:data:`HASH_KEY_SALT`, :data:`HASH_KEY_INFO`) and never written:
without the private key nobody can test guesses (a plain hash of a six-digit customer id would
fall to a million tries). A registry version fit on a tagged column holds its values in its model
schema and reference profile (:func:`personal_features`): those signed files cannot be treated, so
such a version ships without its model files. The per-column actions, never the key, are recorded in the signed
manifest (:meth:`PiiPolicy.record`), and :func:`treatment_problems` checks a shipped entry
honours them. A field whose free text may quote a drop (:data:`QUOTING_FIELDS`: a quarantine
entry's reader error) is masked whole whenever any column is tagged, and recorded as ``quoted``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftline.canonical import canonical_json
from driftline.errors import InputError

__all__ = ["HASH_KEY_INFO", "HASH_KEY_SALT", "MASK", "POLICIES", "PiiPolicy", "personal_features",
           "resolve_actions", "treatment_problems"]

MASK = "[masked]"
POLICIES = ("drop", "mask", "hash")
STRICTNESS = {"hash": 0, "mask": 1, "drop": 2}
DEFAULT_ACTION = "mask"
# SigningKey.derive_secret(HASH_KEY_SALT, HASH_KEY_INFO) is the keyed hash's key (HKDF-SHA256).
HASH_KEY_SALT = b"driftline/export"
HASH_KEY_INFO = b"driftline export pii hash v1"
HASH_NOTE = ("hmac-sha256 over the value's canonical JSON; key HKDF-SHA256 of the exporter's signing key "
             "(info 'driftline export pii hash v1'), not shipped")
# Detail fields whose text may quote a drop's content (a reader's error names the line it choked
# on), by audit action: masked whole whenever a column is tagged, since a tagged value could be in
# the quote under a name no policy names.
QUOTING_FIELDS: tuple[tuple[str, str], ...] = (("quarantine", "error"),)
_TOKEN = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")
_DROPPED = object()


def _check(action: object) -> str:
    if action not in POLICIES:
        raise InputError(f"PII policy {action!r} is not one of {', '.join(POLICIES)}",
                         hint="pass --pii drop, --pii mask or --pii hash; in a contract write pii = \"mask\"")
    return str(action)


def resolve_actions(declared: Iterable[tuple[str, str | None]], requested: str | None = None) -> dict[str, str]:
    """One action per tagged column from ``(column, declared policy or None)`` pairs (several
    contracts may tag one name: the strictest wins) and the export's ``requested`` policy."""
    floor = _check(requested) if requested is not None else None
    out: dict[str, str] = {}
    for column, policy in declared:
        action = _check(policy) if policy is not None else (floor or DEFAULT_ACTION)
        if floor is not None and STRICTNESS[floor] > STRICTNESS[action]:
            action = floor  # --pii tightens a declared policy, never loosens it
        if column not in out or STRICTNESS[action] > STRICTNESS[out[column]]:
            out[column] = action
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class PiiPolicy:
    """The declared treatment of ``fields``: each by ``action``, unless ``per_field`` names its own.
    Built valid or not at all: an unknown action, or ``hash`` without a key, is refused.
    ``record()`` is what the manifest holds; ``actions`` the action of every field."""

    fields: tuple[str, ...] = ()
    action: str = DEFAULT_ACTION
    key: bytes | None = None
    per_field: tuple[tuple[str, str], ...] = ()
    quoted: tuple[tuple[str, str], ...] = ()  # (audit action, top-level field) masked whole when set

    def __post_init__(self) -> None:
        _check(self.action)
        for _, action in self.per_field:
            _check(action)
        if "hash" in self.actions.values() and not self.key:
            raise InputError("the hash PII policy needs a key derived from the signing key",
                             hint="build the policy with SigningKey.derive_secret(HASH_KEY_SALT, HASH_KEY_INFO)")

    @classmethod
    def of(cls, actions: Mapping[str, str], key: bytes | None = None) -> "PiiPolicy":
        """A policy of per-column ``actions`` (as :func:`resolve_actions` gives them); with any
        column tagged, the :data:`QUOTING_FIELDS` are masked too."""
        return cls(tuple(sorted(actions)), DEFAULT_ACTION, key, tuple(sorted(actions.items())),
                   QUOTING_FIELDS if actions else ())

    @property
    def actions(self) -> dict[str, str]:
        return {**{f: self.action for f in self.fields}, **dict(self.per_field)}

    def record(self) -> dict[str, Any]:
        """The manifest's ``pii_policy``: each field's action, and how hashes are keyed (not the key)."""
        actions = self.actions
        out: dict[str, Any] = {"fields": dict(sorted(actions.items()))}
        if "hash" in actions.values():
            out["hash"] = HASH_NOTE
        if self.quoted:
            quoted: dict[str, list[str]] = {}
            for action, name in sorted(self.quoted):
                quoted.setdefault(action, []).append(name)
            out["quoted"] = quoted
        return out

    def _replace(self, value: Any, action: str) -> Any:
        if action == "drop":
            return _DROPPED
        if action == "mask":
            return MASK
        assert self.key is not None
        return "hmac-sha256:" + hmac.new(self.key, canonical_json(value), hashlib.sha256).hexdigest()

    def apply(self, value: Any, action: str | None = None) -> tuple[Any, bool]:
        """``value`` (an entry's details; ``action`` its audit action) with every PII field and
        quoting field treated; and whether any was found."""
        out, hit = self._apply(value, self.actions)
        for name in (f for a, f in self.quoted if a == action):
            if isinstance(out, dict) and out.get(name) not in (None, MASK):
                out[name], hit = MASK, True
        return out, hit

    def _apply(self, value: Any, actions: Mapping[str, str]) -> tuple[Any, bool]:
        if isinstance(value, dict):
            out, hit = {}, False
            for key, item in value.items():
                if key in actions:
                    hit = True
                    replaced = self._replace(item, actions[key])
                    if replaced is not _DROPPED:
                        out[key] = replaced
                else:
                    out[key], sub = self._apply(item, actions)
                    hit = hit or sub
            return out, hit
        if isinstance(value, list):
            pairs = [self._apply(item, actions) for item in value]
            return [p[0] for p in pairs], any(p[1] for p in pairs)
        return value, False


def treatment_problems(value: Any, actions: Mapping[str, str], where: str,
                       quoted: Iterable[str] = ()) -> list[str]:
    """What in ``value`` (an entry's details) breaks the recorded ``actions``: a dropped field that
    is present, a masked one not ``[masked]``, a hashed one not a token, a ``quoted`` top-level
    field not masked. Values are never quoted."""
    problems: list[str] = []
    for name in quoted:
        if isinstance(value, dict) and value.get(name) not in (None, MASK):
            problems.append(f"{where}: field {name!r} may quote a drop's content and is not masked, "
                            "the manifest says it was")
    if isinstance(value, dict):
        for key, item in value.items():
            action = actions.get(key)
            if action == "drop":
                problems.append(f"{where}: PII field {key!r} is present, the manifest says it was dropped")
            elif action == "mask" and item != MASK:
                problems.append(f"{where}: PII field {key!r} is not masked, the manifest says it was")
            elif action == "hash" and not (isinstance(item, str) and _TOKEN.match(item)):
                problems.append(f"{where}: PII field {key!r} is not a keyed-hash token, the manifest says "
                                "it was hashed")
            elif action is None:
                problems += treatment_problems(item, actions, where)
    elif isinstance(value, list):
        for item in value:
            problems += treatment_problems(item, actions, where)
    return problems


# A registry version's files that name the columns it was fit on, with their values: the model
# schema holds every category of a categorical feature, the reference profile its most frequent
# categories' counts (a drift report's category values come from there).
FEATURE_FILES = ("model_schema.json", "reference_profile.json")


def personal_features(folder: Path, tagged: Iterable[str]) -> tuple[str, ...]:
    """The ``tagged`` columns a registry version in ``folder`` was fit on (by its model schema's and
    reference profile's feature names). A file that cannot be read counts as naming every tagged
    column: the caller then withholds what it cannot vouch for."""
    names, found = set(tagged), set()
    if not names:
        return ()
    for file in FEATURE_FILES:
        path = folder / file
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = json.loads(path.read_bytes())
            features = data.get("features") or ()
            found |= names & {*features, *(data.get("categories") or {})}
        except (OSError, ValueError, TypeError, AttributeError):
            return tuple(sorted(names))
    return tuple(sorted(found))
