"""Erasure redacts a visitor's personal values wherever answers quote them, in any formatting."""

from __future__ import annotations

import re

from cortex.core.service.erasure import _personal_values_pattern


def test_known_values_are_redacted_whole_words_only_and_phones_in_any_format() -> None:
    pattern = _personal_values_pattern({"Maria Lopez", "+14155550134", "maria.lopez@example.com", "Acme Bakery"})
    assert pattern is not None
    text = (
        "Thanks Maria Lopez! We'll call (415) 555-0134 or +1 415 555 0134, mail MARIA.LOPEZ@example.com "
        "about Acme Bakery. Bye Maria. Mariachi bands are not a person."
    )
    redacted = pattern.sub("[erased]", text)
    for value in ("Maria", "Lopez", "555", "example.com", "Acme Bakery"):
        assert not re.search(rf"\b{re.escape(value)}\b", redacted), value
    assert "Mariachi bands" in redacted


def test_nothing_known_means_nothing_to_redact() -> None:
    assert _personal_values_pattern(set()) is None
    assert _personal_values_pattern({"x"}) is None
