"""Signed links: what a mailed reschedule, cancel or unsubscribe link proves."""

from __future__ import annotations

import pytest

from cortex.settings import Settings
from cortex.signed import BadSignature, Expired, sign, verify


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key="a-root-secret-for-tests-only-0123456789")


def test_a_link_carries_its_claims_until_it_expires(settings: Settings) -> None:
    token = sign(settings, "booking-link", {"appointment": "a1", "action": "cancel"}, ttl_s=60, now=1_000)
    assert verify(settings, "booking-link", token, now=1_059) == {"appointment": "a1", "action": "cancel"}
    with pytest.raises(Expired):
        verify(settings, "booking-link", token, now=1_061)


def test_forged_altered_or_foreign_links_are_refused(settings: Settings) -> None:
    token = sign(settings, "booking-link", {"appointment": "a1", "action": "cancel"}, ttl_s=60)
    body, mac = token.split(".")
    forged = sign(settings, "booking-link", {"appointment": "a2", "action": "cancel"}, ttl_s=60).split(".")[0]
    for bad in (f"{forged}.{mac}", f"{body}.{mac[:-2]}xx", "nonsense", "", "a." * 3000):
        with pytest.raises(BadSignature):
            verify(settings, "booking-link", bad)
    with pytest.raises(BadSignature):  # made for another purpose
        verify(settings, "unsubscribe", token)
    other = Settings(secret_key="another-root-secret-for-tests-0123456789")
    with pytest.raises(BadSignature):  # made under another root secret
        verify(other, "booking-link", token)
