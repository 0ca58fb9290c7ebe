"""The outcome of an evaluation gate and its renderings (canonical JSON, Markdown, HTML).

A :class:`GateReport` is a result, never an exception: a rejected candidate is a report whose
``verdict`` is ``"reject"`` and whose :meth:`~GateReport.reasons` say why in one sentence per failed
check. The JSON form is canonical (it is hashed into :attr:`~GateReport.digest`, stored next to the
registry version and shipped in compliance exports), and the constructor refuses a report whose
verdict contradicts its checks, or that promotes on no checks at all (fail closed). A report names
the ``task`` (binary, multiclass, regression) and the ``decision_metric`` its champion comparison
decided on; reports written before these fields existed load without them and keep their digest.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from driftline.canonical import canonical_json, sha256_hex
from driftline.errors import InputError

FORMAT = "driftline.gate-report/v1"


def _plain(value: Any) -> Any:
    """JSON-shaped, hashable form of an observed value: lists become tuples, NaN becomes None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return tuple(_plain(item) for item in value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    raise InputError(f"observed value {value!r} is not a JSON scalar or list")


@dataclass(frozen=True)
class CheckResult:
    """One check of a gate. ``observed`` is a JSON scalar or a tuple of them (NaN is stored as None)."""

    name: str
    passed: bool
    observed: Any
    expected: str
    detail: str

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("a gate check needs a name")
        if not isinstance(self.passed, bool):
            raise InputError(f"check {self.name}: passed must be a bool, got {self.passed!r}")
        object.__setattr__(self, "observed", _plain(self.observed))

    def reason(self) -> str:
        """One sentence on this check's outcome."""
        return f"{self.name}: observed {_show(self.observed)}, expected {self.expected} ({self.detail})."

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "observed": self.observed,
                "expected": self.expected, "detail": self.detail}


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return "none" if value is None else str(value)


@dataclass(frozen=True)
class GateReport:
    """Verdict of one gate. Round-trip law: ``GateReport.from_json(r.to_json()) == r``."""

    passed: bool
    verdict: Literal["promote", "reject"]
    checks: tuple[CheckResult, ...]
    policy: str
    candidate: str
    champion: str | None
    created_at: str
    # Added after v1's first reports: None (and absent from the JSON) in a report written before,
    # so an old report loads and serialises back to its own bytes and digest.
    task: str | None = None
    decision_metric: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))
        for name in ("task", "decision_metric"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InputError(f"gate report {name} {value!r} is not a non-empty string")
        if self.verdict not in ("promote", "reject"):
            raise InputError(f"verdict {self.verdict!r} is neither promote nor reject")
        expected = bool(self.checks) and all(check.passed for check in self.checks)
        if self.passed != expected or (self.verdict == "promote") != self.passed:
            raise InputError("gate report contradicts itself: a report passes exactly when it has "
                             "checks and all of them passed, and then its verdict is promote")
        if not self.candidate:
            raise InputError("gate report names no candidate")

    def reasons(self) -> tuple[str, ...]:
        """One sentence per failed check; a report with no checks says so (it never passes)."""
        if not self.checks:
            return ("no checks ran: an empty policy never promotes.",)
        return tuple(check.reason() for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        out = {"format": FORMAT, "passed": self.passed, "verdict": self.verdict,
               "checks": [check.to_dict() for check in self.checks], "policy": self.policy,
               "candidate": self.candidate, "champion": self.champion, "created_at": self.created_at}
        out.update({k: v for k, v in (("task", self.task), ("decision_metric", self.decision_metric))
                    if v is not None})
        return out

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> "GateReport":
        try:
            raw = json.loads(data)
            if raw.pop("format") != FORMAT:
                raise ValueError("unknown format")
            checks = tuple(CheckResult(**check) for check in raw.pop("checks"))
            return cls(checks=checks, **raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"not a {FORMAT} document: {exc}",
                             hint="pass the bytes written by GateReport.to_json") from exc

    @property
    def digest(self) -> str:
        return sha256_hex(self.to_json())

    def _title(self) -> str:
        against = f" against champion {self.champion}" if self.champion else " (no champion)"
        task = f" [{self.task}, decided on {self.decision_metric}]" if self.task else ""
        return f"Gate {self.verdict.upper()}: {self.candidate}{against}{task}"

    def to_markdown(self) -> str:
        lines = [f"# {self._title()}", "", f"- policy: `{self.policy}`", f"- created: {self.created_at}",
                 f"- digest: `{self.digest}`", "", "| check | result | observed | expected | detail |",
                 "|---|---|---|---|---|"]
        for check in self.checks:
            cells = [check.name, "pass" if check.passed else "**FAIL**", _show(check.observed),
                     check.expected, check.detail]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        if not self.passed:
            lines += ["", "## Why rejected", *(f"- {reason}" for reason in self.reasons())]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """A self-contained page (inline style, no scripts, every value escaped)."""
        esc = html.escape
        rows = "".join(
            f"<tr class=\"{'pass' if c.passed else 'fail'}\"><td>{esc(c.name)}</td>"
            f"<td>{'pass' if c.passed else 'FAIL'}</td><td>{esc(_show(c.observed))}</td>"
            f"<td>{esc(c.expected)}</td><td>{esc(c.detail)}</td></tr>" for c in self.checks)
        reasons = "".join(f"<li>{esc(r)}</li>" for r in self.reasons()) if not self.passed else ""
        return (
            "<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{esc(self._title())}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
            ".fail{background:#fdd}.pass{background:#dfd}</style></head><body>"
            f"<h1>{esc(self._title())}</h1><p>policy <code>{esc(self.policy)}</code>, created "
            f"{esc(self.created_at)}, digest <code>{self.digest}</code></p>"
            "<table><tr><th>check</th><th>result</th><th>observed</th><th>expected</th><th>detail</th></tr>"
            f"{rows}</table>" + (f"<h2>Why rejected</h2><ul>{reasons}</ul>" if reasons else "")
            + "</body></html>\n")
