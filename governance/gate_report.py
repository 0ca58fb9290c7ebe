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
from collections.abc import Mapping
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


# Units by check name: what each fact means to a reader (the JSON keeps the raw value).
_UNITS: dict[str, str] = {"model size": "bytes", "scoring latency": "ms", "training rows": "rows",
                          "quarantine share": "share"}


def _bytes(n: float) -> str:
    size, unit = float(n), "bytes"
    for bigger in ("KB", "MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{int(n):,} bytes" if unit == "bytes" else f"{int(n):,} bytes ({size:.1f} {unit})"


def display(check: CheckResult) -> str:
    """A check's observed value for people: units (bytes, ms per 1,000 rows, rows), rates and
    shares as percentages, other numbers to 4 decimals. The value is the check's, only formatted."""
    value, unit = check.observed, _UNITS.get(check.name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return _show(value)
    if unit == "bytes":
        return _bytes(value)
    if unit == "ms":
        return f"{value:,.2f} ms per 1,000 rows"
    if unit == "rows":
        return f"{int(value):,} rows"
    if unit == "share" or check.name.split(" ", 1)[0] in ("precision", "recall", "positive_rate", "accuracy") \
            or check.name.startswith(("class recall=", "accuracy by ")):
        return f"{value:.2%}"
    return f"{value:.4f}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3g}"


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
            cells = [check.name, "pass" if check.passed else "**FAIL**", display(check),
                     check.expected, check.detail]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        if not self.passed:
            lines += ["", "## Why rejected", *(f"- {reason}" for reason in self.reasons())]
        return "\n".join(lines) + "\n"

    def heading(self, version: int | None = None) -> str:
        """The page's title: the verdict, the version number when known, the champion, the task."""
        if version is None:
            return self._title()
        model = self.candidate.split(" ", 1)[0]
        against = f" against champion {self.champion}" if self.champion else " (no champion)"
        task = f" [{self.task}, decided on {self.decision_metric}]" if self.task else ""
        return f"Gate {self.verdict.upper()}: {model} v{version}{against}{task}"

    def to_html(self, *, version: int | None = None, figures: Mapping[str, tuple[str, str]] | None = None,
                links: Mapping[str, str] | None = None) -> str:
        """A self-contained page (inline style and SVG, no scripts, every value escaped): the
        heading names ``version`` when known; ``figures`` are plot id -> (title, trusted ``<svg>``
        from :func:`governance.gate_plots.gate_plots`); ``links`` text -> relative href."""
        esc = html.escape
        rows = "".join(
            f"<tr class=\"{'pass' if c.passed else 'fail'}\"><td>{esc(c.name)}</td>"
            f"<td>{'pass' if c.passed else 'FAIL'}</td><td class=\"num\">{esc(display(c))}</td>"
            f"<td>{esc(c.expected)}</td><td>{esc(c.detail)}</td></tr>" for c in self.checks)
        reasons = "".join(f"<li>{esc(r)}</li>" for r in self.reasons()) if not self.passed else ""
        nav = " · ".join(f'<a href="{esc(href, quote=True)}">{esc(text)}</a>'
                         for text, href in (links or {}).items())
        plots = "".join(f'<figure id="plot-{esc(name, quote=True)}" class="plot"><figcaption>{esc(title)}'
                        f"</figcaption>{svg}</figure>" for name, (title, svg) in (figures or {}).items())
        title = esc(self.heading(version))
        return (
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em;max-width:1240px}}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}td.num{text-align:right}"
            ".fail{background:#fdd}.pass{background:#dfd}figure{margin:1.5em 0}svg{max-width:100%;height:auto}"
            "figcaption{font-weight:bold;margin-bottom:.3em}.plots{display:grid;grid-template-columns:1fr 1fr;gap:1em}"
            "</style></head><body>"
            f"<h1>{title}</h1><p>policy <code>{esc(self.policy)}</code>, created "
            f"{esc(self.created_at)}, digest <code>{self.digest}</code></p>"
            + (f"<p class=\"links\">{nav}</p>" if nav else "")
            + "<table><tr><th>check</th><th>result</th><th>observed</th><th>expected</th><th>detail</th></tr>"
            f"{rows}</table>" + (f"<h2>Why rejected</h2><ul>{reasons}</ul>" if reasons else "")
            + (f"<h2>Candidate against champion on the holdout</h2><div class=\"plots\">{plots}</div>"
               if plots else "")
            + "</body></html>\n")
