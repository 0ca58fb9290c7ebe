"""ReportPii: the one place a report turns a tagged column's value into what it shows."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from driftline.errors import InputError
from governance.export_pii import HASH_KEY_INFO, HASH_KEY_SALT, PiiPolicy
from governance.report_pii import MASK_PREFIX, ReportPii, report_pii
from registry.keys import SigningKey
from tests.governance.pii_corpus import CORPUS, EMAILS, NAMES, PHONES, leaks

KEY = SigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1()))
SECRET = KEY.derive_secret(HASH_KEY_SALT, HASH_KEY_INFO)
PII = ReportPii({"email": "hash", "name": "mask", "phone": "drop"}, SECRET)


def test_hash_is_the_exports_token() -> None:
    export = PiiPolicy.of({"email": "hash"}, key=SECRET)
    for value in EMAILS:
        treated, _ = export.apply({"email": value})
        assert PII.display("email", value) == treated["email"]


def test_mask_is_length_free_distinct_and_not_the_export_token() -> None:
    shown = PII.labels("name", [*NAMES, "X", "a much longer name than any other in the corpus"])
    assert len(set(shown)) == len(shown) and len({len(s) for s in shown}) == 1
    assert all(s.startswith(MASK_PREFIX) for s in shown)
    assert PII.display("name", NAMES[0])[len(MASK_PREFIX):] not in PII.display("email", NAMES[0])
    assert not leaks(" ".join(shown))


def test_untagged_values_shown_as_they_are() -> None:
    assert PII.display("plan", "premium") == "premium"
    assert PII.segment_names("plan", ["a", 1]) == ["a", "1"]


def test_drop_segments_are_numbered_one_name_per_value() -> None:
    rows = [PHONES[0], PHONES[1], PHONES[0], PHONES[2]]
    names = PII.segment_names("phone", rows)
    assert sorted(set(names)) == ["segment 1", "segment 2", "segment 3"]
    assert names[0] == names[2] != names[1] and not PII.shows_values("phone")
    assert not leaks(" ".join(names)) and "phone (drop)" in PII.note()


def test_hash_and_mask_segments_keep_their_rows() -> None:
    rows = [EMAILS[0], EMAILS[1], EMAILS[0]]
    names = PII.segment_names("email", rows)
    assert names[0] == names[2] != names[1] and not leaks(" ".join(names))


def test_from_contract_declarations() -> None:
    pii = report_pii([("email", "hash"), ("name", None), ("name", "drop")], lambda: KEY)
    assert pii.actions == {"email": "hash", "name": "drop"} and pii.key == SECRET
    assert report_pii([("plan", None)][:0]) == ReportPii()  # nothing tagged: no key asked


@pytest.mark.parametrize("bad", [
    lambda: ReportPii({"email": "rot13"}, SECRET),
    lambda: ReportPii({"email": "hash"}),
    lambda: report_pii([("email", None)]),
    lambda: report_pii([("email", "blur")], lambda: KEY),
], ids=["unknown-action", "no-key", "no-key-source", "unknown-declared"])
def test_bad_input_refused_with_a_hint(bad) -> None:
    with pytest.raises(InputError) as err:
        bad()
    assert err.value.hint


def test_corpus_never_in_a_note() -> None:
    assert not leaks(PII.note(), CORPUS)
