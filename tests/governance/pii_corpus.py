"""A PII corpus for report tests: emails, phone numbers and names as category and segment values,
and the forms a value may take on a page (raw, HTML-escaped, cut short as a plot label)."""

from __future__ import annotations

import html
from pathlib import Path

EMAILS = ("ana.lopez@example.org", "bob+tag@mail.example.net", "chen.wei@example.com")
PHONES = ("+44 20 7946 0958", "+1 (555) 010-9999", "+33 1 70 36 39 12")
NAMES = ("Ana Lopez", "Robert O'Neil", "Zoë Brandt")
CORPUS = (*EMAILS, *PHONES, *NAMES)


def forms(value: str) -> set[str]:
    """What of ``value`` would show it in clear: itself, escaped, and the first 11 characters (a plot
    label cuts long text short; 11 characters of any corpus value name it)."""
    shown = {value, html.escape(value), html.escape(value, quote=False)}
    return shown | {s[:11] for s in shown}


def leaks(text: str, values: tuple[str, ...] = CORPUS) -> list[str]:
    """The corpus values ``text`` shows in clear, in any of their :func:`forms`."""
    return [v for v in values if any(f in text for f in forms(v))]


def scan(root: Path, values: tuple[str, ...] = CORPUS, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every file under ``root`` (but those named in ``skip``) that shows a corpus value in clear."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip):
        text = path.read_bytes().decode("utf-8", "replace")
        if hits := leaks(text, values):
            found[str(path.relative_to(root))] = hits
    return found
