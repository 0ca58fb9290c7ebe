"""A number is never free text: a numeric column whose name holds a free-text word ("body" in the
Palmer penguins' body_mass_g) is not a PII suspect, while a text column of that name still is and
a numeric phone or card column named so still is."""

from __future__ import annotations

from features.pii_suspects import suspect


def test_a_numeric_column_named_like_free_text_is_no_suspect() -> None:
    assert suspect("body_mass_g", ["3750", "3800"], textual=False) is None


def test_a_text_column_of_that_name_and_a_numeric_phone_column_still_are() -> None:
    found = suspect("body", ["hello there"], textual=True)
    assert found is not None and found.kind == "free text"
    found = suspect("phone", ["4155550100"], textual=False)
    assert found is not None and found.kind == "a phone number"
