"""Shadow and canary routing: which model version(s) score a request, and whose answer is returned.

Pure and Prefect-free: the server asks :meth:`Router.plan` for every request and gets a tuple of
:class:`Route`; it scores each route's version, returns the one route whose ``returned`` is true,
and hands every route's rows to the prediction log with the route's ``role`` and ``returned``
(:class:`serving.served.ServedBatch`). Per served model there is the champion ref (the
``champion`` alias, or an alias or version pinned with ``--model NAME@REF``, then role ``pinned``)
and at most one challenger:

- **shadow** (``--shadow NAME@ALIAS``): every request is scored by both; the champion's answer is
  returned, the challenger's is only logged. The comparison then has both on the same requests.
- **canary** (``--canary NAME@ALIAS=PERCENT``): a set share of requests is answered by the
  challenger alone. Which requests is decided by a stable hash (SHA-256) of the model name and the
  request id, never by chance or Python's salted ``hash``: a retried request, in this process or
  another, lands on the same side. The comparison then has both over the same window.

:func:`parse_route_flag` reads the two flags' text into a :class:`RouteSpec`; bad text is an
:class:`~driftline.errors.InputError` naming the flag's form, so the server refuses it at start.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from driftline.errors import InputError, NotFoundError

Mode = Literal["shadow", "canary"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_FORMS = {"shadow": "--shadow NAME@ALIAS (e.g. churn@challenger)",
          "canary": "--canary NAME@ALIAS=PERCENT (e.g. churn@challenger=10)"}


@dataclass(frozen=True)
class RouteSpec:
    """A challenger for ``model``: ``alias`` scored in ``mode``; ``percent`` of requests for a canary
    (0 < percent <= 100), 100 for a shadow (it scores every request). Cannot be built malformed."""

    model: str
    alias: str
    mode: Mode
    percent: float = 100.0

    def __post_init__(self) -> None:
        if self.mode not in _FORMS:
            raise InputError(f"unknown challenger mode {self.mode!r}", hint="use shadow or canary")
        for what, value in (("model", self.model), ("alias", self.alias)):
            if not _NAME.match(value):
                raise InputError(f"{self.mode} {what} {value!r} is not a name (letters, digits, _ . -)",
                                 hint=f"write {_FORMS[self.mode]}")
        if not (math.isfinite(self.percent) and 0 < self.percent <= 100) or (
                self.mode == "shadow" and self.percent != 100):
            raise InputError(f"{self.mode} share {self.percent!r}% for {self.model}@{self.alias}",
                             hint="a canary takes more than 0 and at most 100 percent; a shadow scores every request")


@dataclass(frozen=True)
class Route:
    """One version that scores a request: ``ref`` (alias or version) of ``model``, in ``role``;
    ``returned`` is true for the one route whose answer the caller receives."""

    model: str
    ref: str
    role: Literal["champion", "challenger", "pinned"]
    returned: bool


def parse_route_flag(text: str, mode: Mode | None = None) -> RouteSpec:
    """``NAME@ALIAS`` (shadow) or ``NAME@ALIAS=PERCENT`` (canary; ``10``, ``2.5`` or ``10%``).

    ``mode`` is the flag the text came with; without it the form decides (a share means canary).
    """
    raw = text.strip()
    if mode is None:
        mode = "canary" if "=" in raw else "shadow"
    if mode not in _FORMS:
        raise InputError(f"unknown challenger mode {mode!r}", hint="use shadow or canary")
    target, has_share, share = raw.partition("=")
    name, at, alias = target.partition("@")
    if not at or not name or not alias or "@" in alias:
        raise InputError(f"{mode} route {text!r} does not name a model and an alias", hint=f"write {_FORMS[mode]}")
    if mode == "shadow":
        if has_share:
            raise InputError(f"shadow route {text!r} gives a share: a shadow scores every request",
                             hint=f"write {_FORMS['shadow']}, or use --canary for a share")
        return RouteSpec(name, alias, "shadow")
    if not has_share:
        raise InputError(f"canary route {text!r} gives no share of requests", hint=f"write {_FORMS['canary']}")
    try:
        percent = float(share.strip().removesuffix("%"))
    except ValueError:
        raise InputError(f"canary share {share!r} in {text!r} is not a number", hint=f"write {_FORMS['canary']}") \
            from None
    return RouteSpec(name, alias, "canary", percent)


def bucket(model: str, request_id: str) -> float:
    """Where a request falls in [0, 100): the first 8 bytes of SHA-256 over model and request id, scaled."""
    digest = hashlib.sha256(f"{model}\0{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64 * 100


class Router:
    """Plans each request's routes from the served models' champion refs and their challengers."""

    def __init__(self, champions: Mapping[str, str], challengers: Sequence[RouteSpec] = ()) -> None:
        self._champions = dict(champions)
        self._challengers: dict[str, RouteSpec] = {}
        for spec in challengers:
            if spec.model not in self._champions:
                raise InputError(f"{spec.mode} {spec.model}@{spec.alias} names a model that is not served",
                                 hint=f"serve it too (--model {spec.model}); served: {sorted(self._champions)}")
            if spec.model in self._challengers:
                raise InputError(f"model {spec.model!r} has two challengers",
                                 hint="give a model one --shadow or one --canary")
            if spec.alias == self._champions[spec.model]:
                raise InputError(f"{spec.mode} {spec.model}@{spec.alias} is the ref already served as champion",
                                 hint="name the challenger's alias, e.g. challenger")
            self._challengers[spec.model] = spec

    @classmethod
    def from_flags(cls, champions: Mapping[str, str], *, shadow: Sequence[str] = (),
                   canary: Sequence[str] = ()) -> "Router":
        """The router of ``predict-server``'s flags: ``champions`` from ``--model NAME[@REF]`` (REF
        ``champion`` when not pinned), the texts of every ``--shadow`` and ``--canary``."""
        specs = [parse_route_flag(t, "shadow") for t in shadow] + [parse_route_flag(t, "canary") for t in canary]
        return cls(champions, specs)

    def challenger(self, model: str) -> RouteSpec | None:
        return self._challengers.get(model)

    def plan(self, model: str, request_id: str) -> tuple[Route, ...]:
        """The routes of one request; the returned one first, then any shadow."""
        if model not in self._champions:
            raise NotFoundError(f"model {model!r} is not served", hint=f"served models: {sorted(self._champions)}")
        if not request_id:
            raise InputError("a request without an id cannot be routed", hint="give every request an id")
        ref = self._champions[model]
        champion = Route(model, ref, "champion" if ref == "champion" else "pinned", True)
        spec = self._challengers.get(model)
        if spec is None:
            return (champion,)
        if spec.mode == "shadow":
            return champion, Route(model, spec.alias, "challenger", False)
        if bucket(model, request_id) < spec.percent:
            return (Route(model, spec.alias, "challenger", True),)
        return (champion,)
