"""The one clock and the one timestamp format. Every time driftline writes (audit entries and
checkpoints, the trust ledger, alias history, registry ``created_at``, gate reports, quarantine
records, the watcher's and the retrain ledger's records, exports) is ``format_time(utc_now())``:
UTC ISO-8601 with microseconds and a ``Z``, fixed width, so strings sort as the times do.

Files written by older releases hold ``datetime.isoformat()`` text (``+00:00``, sometimes whole
seconds); ``parse_time`` reads every such form, so readers keep accepting what is persisted. New
writes never use another format.
"""

from __future__ import annotations

from datetime import datetime, timezone

from driftline.errors import InputError

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (the default clock of every writer)."""
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """``moment`` as UTC ISO-8601 with microseconds and a ``Z``; a naive time is refused, since
    it could be local time written as UTC. Round-trip law: ``parse_time(format_time(t)) == t``."""
    if moment.tzinfo is None:
        raise InputError(f"time {moment!r} has no timezone", hint="pass an aware datetime, e.g. utc_now()")
    return moment.astimezone(timezone.utc).strftime(_FORMAT)


def now_text() -> str:
    """``format_time(utc_now())``: the stamp a writer puts in a record."""
    return format_time(utc_now())


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from ``format_time``'s text or any ISO-8601 with an offset (what older
    files hold). Text without an offset or not ISO-8601 is an ``InputError``."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise InputError(f"time {text!r} is not ISO-8601", hint="write times with format_time()") from exc
    if moment.tzinfo is None:
        raise InputError(f"time {text!r} has no timezone", hint="write times with format_time()")
    return moment.astimezone(timezone.utc)
