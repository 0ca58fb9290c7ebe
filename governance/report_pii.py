"""How a report shows the values of a PII-tagged column: never in clear, per the declared policy.

Exports treat tagged columns by :mod:`governance.export_pii`; reports (the drift report, the gate
report and its plots, their Prefect artifacts) go through :class:`ReportPii`, this one place,
with the same per-column actions (:func:`~governance.export_pii.resolve_actions` over the
contracts' declarations, ``pii = true`` meaning ``mask``). A column's NAME stays visible (it is
not personal data); its values are shown as: ``hash``, the export's own keyed-hash token
(``hmac-sha256:<hex>`` of the value's canonical JSON, key ``SigningKey.derive_secret(HASH_KEY_SALT,
HASH_KEY_INFO)``), so a reader can match a report's segment with an export's field; ``mask``,
``•••`` and a short keyed token of another derivation, the same for every value length and
distinct per value (segments and bins stay apart) but not joinable with an export; ``drop``,
nothing: a drift report shows only the column's statistics, and a gate's segments are numbered
(``segment 1``...) in the order of their mask tokens, so neither value nor order leaks. Only
labels change: the rows behind each bin or segment are the same, so no statistic changes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftline.canonical import canonical_json
from driftline.errors import InputError
from governance.export_pii import HASH_KEY_INFO, HASH_KEY_SALT, POLICIES, resolve_actions

__all__ = ["MASK_PREFIX", "TOKEN_PREFIX", "ReportPii", "contracts_pii", "report_pii"]

MASK_PREFIX = "•••"
TOKEN_PREFIX = "hmac-sha256:"  # the export's token form (governance.export_pii)
# The mask token's domain inside the same keyed hash: a masked label is never an export's token.
_MASK_DOMAIN = b"driftline report mask v1\x00"
_MASK_HEX = 12  # 48 bits: distinct over a column's few dozen bins or segments, too short to join on


@dataclass(frozen=True)
class ReportPii:
    """The report treatment of each tagged column (``actions``: column -> drop|mask|hash) and the
    keyed hash's key. Built valid or not at all: an unknown action, or a tagged column without a
    key, is refused (a mask token is keyed too, so a guess cannot be tested without the key)."""

    actions: Mapping[str, str] = field(default_factory=dict)
    key: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", dict(sorted(self.actions.items())))
        for column, action in self.actions.items():
            if action not in POLICIES:
                raise InputError(f"report PII action {action!r} of column {column!r} is not one of "
                                 f"{', '.join(POLICIES)}", hint="build it with report_pii(contracts, key)")
        if self.actions and not self.key:
            raise InputError(f"columns {', '.join(self.actions)} are tagged PII but no key was given to "
                             "treat their values in reports",
                             hint="pass SigningKey.derive_secret(HASH_KEY_SALT, HASH_KEY_INFO)")

    def tagged(self, column: str) -> bool:
        return column in self.actions

    def shows_values(self, column: str) -> bool:
        """False when the column is dropped: a report shows its statistics, never a value or label."""
        return self.actions.get(column) != "drop"

    def _mac(self, value: Any, domain: bytes = b"") -> str:
        assert self.key is not None
        return hmac.new(self.key, domain + canonical_json(value), hashlib.sha256).hexdigest()

    def display(self, column: str, value: Any) -> str:
        """``value`` of ``column`` as a report may show it: itself (as text) when untagged, the
        export's token (hash), ``•••`` and a short token (mask and drop: a caller that honours
        drop never asks, and one that does gets no value)."""
        action = self.actions.get(column)
        if action is None:
            return str(value)
        if action == "hash":
            return TOKEN_PREFIX + self._mac(value)
        return MASK_PREFIX + self._mac(value, _MASK_DOMAIN)[:_MASK_HEX]

    def labels(self, column: str, values: Iterable[Any]) -> list[str]:
        """:meth:`display` of each of ``values`` (a drift chart's bin labels)."""
        return [self.display(column, v) for v in values]

    def segment_names(self, column: str, values: Sequence[Any]) -> list[str]:
        """Per-row segment names of ``column`` for the gate: the values as text when untagged, else
        their display form; with ``drop``, ``segment k`` numbered in the order of the distinct
        values' mask tokens. One name per distinct value, so every segment keeps its rows."""
        action = self.actions.get(column)
        if action is None:
            return [str(v) for v in values]
        if action != "drop":
            shown = {v: self.display(column, v) for v in set(values)}
            return [shown[v] for v in values]
        order = sorted(set(values), key=lambda v: self._mac(v, _MASK_DOMAIN))
        number = {v: f"segment {i}" for i, v in enumerate(order, 1)}
        return [number[v] for v in values]

    def note(self) -> str:
        """One sentence a report prints when a column is tagged: which and how, never a value."""
        if not self.actions:
            return ""
        parts = ", ".join(f"{c} ({a})" for c, a in self.actions.items())
        return (f"PII-tagged columns, whose values this report never shows in clear: {parts}. "
                "hash: the compliance export's keyed-hash token; mask: ••• and a keyed token; "
                "drop: no values, only statistics.")


def report_pii(declared: Iterable[tuple[str, str | None]], key_of: Any = None,
               columns: Iterable[str] | None = None) -> ReportPii:
    """The report treatment from the contracts' ``(column, declared policy)`` pairs (as
    ``contract.pii_policies.items()`` gives them), of ``columns`` alone when given (those the
    report can show); ``key_of()`` returns the signing key, asked only when some column is tagged
    (a report without PII needs no key)."""
    shown = None if columns is None else set(columns)
    actions = resolve_actions(pair for pair in declared if shown is None or pair[0] in shown)
    if not actions:
        return ReportPii()
    if key_of is None:
        raise InputError(f"columns {', '.join(actions)} are tagged PII and no signing key was given",
                         hint="pass the workspace's signing_key so report values can be treated")
    return ReportPii(actions, key_of().derive_secret(HASH_KEY_SALT, HASH_KEY_INFO))


def contracts_pii(contracts: Mapping[str, Any], key_of: Any = None,
                  columns: Iterable[str] | None = None) -> ReportPii:
    """:func:`report_pii` over every contract of the data home (a column tagged in any group)."""
    return report_pii([pair for c in contracts.values() for pair in c.pii_policies.items()], key_of, columns)
