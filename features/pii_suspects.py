"""PII suspects: which columns of a sample look like personal data, and why.

``contract infer`` tags a suspect column ``pii = true`` (erasure and the compliance export then
treat it as personal) and lists it for a person to confirm, so a miss costs more than a false
alarm: a column is suspected by its name OR by its values. Values are checked only on columns
read as text (a date or an amount never looks like a phone number), and a value rule must hold
for most sampled values (:data:`SHARE`), so one odd value does not tag a column. Card numbers must
pass the Luhn check, IPs must parse, names and free text must also vary from row to row (a column
of a few repeated words is a category, not a person).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

SHARE = 0.8  # share of sampled values a value rule must match

_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(rx)) for kind, rx in (
    ("a person's name", r"^(first_?name|last_?name|full_?name|given_?name|family_?name|surname|name|"
                        r"customer_?name|contact_?name|person)$"),
    ("an email address", r"(^|_)e_?mail(_|$)"),
    ("a phone number", r"(^|_)(phone|mobile|tel|telephone|fax|msisdn)(_|$)"),
    ("a street address", r"(^|_)(address|street|addr|address_?line\d?)(_|$)"),
    ("an IP address", r"(^|_)(ip|ipv4|ipv6|ip_?address)(_|$)"),
    ("a national id", r"(^|_)(ssn|national_?id|nino|nin|passport(_?no|_?number)?|tax_?id|sin|"
                      r"social_?security(_?number)?|id_?card)(_|$)"),
    ("a card number", r"(^|_)(card_?(no|num|number)|cc_?(no|num|number)|pan|credit_?card)(_|$)"),
    ("free text", r"(^|_)(comments?|notes?|remarks?|message|feedback|free_?text|body|review)(_|$)"),
))
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_NATIONAL = re.compile(r"^(\d{3}-\d{2}-\d{4}|[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D])$")
_STREET = re.compile(r"^\d+[A-Za-z]?\s+(\w+\s+){0,4}(street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|"
                     r"blvd|way|court|ct|place|pl|terrace|close|strasse|straße)\b\.?", re.IGNORECASE)
_PERSON = re.compile(r"^[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s[A-Z]\.?)?(?:\s[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){1,2}$")
_CARD_SHAPE = re.compile(r"^\d(?:[ -]?\d){12,18}$")


@dataclass(frozen=True)
class PiiSuspect:
    """A column suspected of holding personal data: ``kind`` ("an email address"), and ``why``
    (its name, or the share of sampled values that look so)."""

    column: str
    kind: str
    why: str


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_phone(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    # A bare run of digits is a number, a dashed 4-2-2 is a date: a phone has 7-15 digits and a + or a space.
    return bool(_PHONE.match(value)) and 7 <= digits <= 15 and (value.startswith("+") or " " in value
                                                                  or "(" in value)


def _is_card(value: str) -> bool:
    return bool(_CARD_SHAPE.match(value)) and _luhn(re.sub(r"[ -]", "", value))


_VALUE_RULES = (("an email address", _EMAIL.match), ("an IP address", _is_ip),
                ("a national id", _NATIONAL.match), ("a card number", _is_card),
                ("a phone number", _is_phone), ("a street address", _STREET.match))


def suspect(column: str, values: Sequence[str], *, textual: bool) -> PiiSuspect | None:
    """Why ``column`` looks personal, from its name or its sampled ``values`` (stripped, non-blank;
    ``textual``: the column was read as strings), or None."""
    lowered = column.lower()
    for kind, rule in _NAMES:
        if kind == "free text" and not textual:  # a number is never free text ("body" in body_mass_g)
            continue
        if rule.search(lowered):
            return PiiSuspect(column, kind, f"its name {column!r} suggests {kind}")
    if not values:
        return None
    sample = list(values)
    for kind, match in _VALUE_RULES:
        if not textual and kind != "a card number":
            continue
        share = sum(1 for v in sample if match(v)) / len(sample)
        if share >= SHARE:
            return PiiSuspect(column, kind, f"{share:.0%} of {len(sample)} sampled values look like {kind}")
    if not textual:
        return None
    distinct = len(set(sample)) / len(sample)
    if distinct > 0.5:
        share = sum(1 for v in sample if _PERSON.match(v)) / len(sample)
        if share >= SHARE:
            return PiiSuspect(column, "a person's name", f"{share:.0%} of {len(sample)} sampled values look "
                              "like a person's name (capitalised words)")
        long = sum(1 for v in sample if len(v) >= 40 and v.count(" ") >= 5) / len(sample)
        if long >= 0.5:
            return PiiSuspect(column, "free text", f"{long:.0%} of {len(sample)} sampled values are free text "
                              "(sentences may name people)")
    return None
