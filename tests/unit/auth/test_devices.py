"""The device cookie: only a login to the account itself makes one, and nobody can forge or stretch it."""

from __future__ import annotations

from pathlib import Path

from cortex.auth.service import devices
from cortex.settings import Settings

ALICE, BOB = "a" * 32, "b" * 32


def _settings(tmp_path: Path, secret: str = "s" * 48) -> Settings:
    return Settings(home=tmp_path, secret_key=secret)


def test_a_cookie_proves_the_account_it_was_issued_for_and_no_other(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    cookie = devices.issue(settings, ALICE, None)
    assert devices.known_device(settings, ALICE, cookie)
    assert devices.known_device(settings, BOB, cookie) is None
    assert devices.known_device(settings, ALICE, None) is None


def test_the_device_keeps_its_id_across_logins_and_holds_several_accounts(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = devices.issue(settings, ALICE, None)
    both = devices.issue(settings, BOB, first)
    again = devices.issue(settings, ALICE, both)
    assert devices.known_device(settings, ALICE, again) == devices.known_device(settings, ALICE, first)
    assert devices.known_device(settings, BOB, again) == devices.known_device(settings, BOB, both)
    many = again
    for n in range(devices.MAX_ENTRIES + 2):
        many = devices.issue(settings, f"{n:032x}", many)
    assert len(many.split("~")) == devices.MAX_ENTRIES
    assert devices.known_device(settings, ALICE, many) is None, "the oldest entry drops first"


def test_a_forged_expired_or_foreign_cookie_proves_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    cookie = devices.issue(settings, ALICE, None, now=1_000_000)
    account, device, expires, signature = cookie.split(".")
    longer = f"{account}.{device}.{int(expires) + 10**9}.{signature}"
    assert devices.known_device(settings, ALICE, longer, now=1_000_000) is None
    assert devices.known_device(settings, ALICE, f"{account}.{device}.{expires}.{'A' * 22}", now=1_000_000) is None
    assert devices.known_device(settings, ALICE, cookie, now=int(expires) + 1) is None
    other_install = _settings(tmp_path, secret="t" * 48)
    assert devices.known_device(other_install, ALICE, cookie, now=1_000_000) is None
    assert devices.known_device(settings, ALICE, "x" * 5000, now=1_000_000) is None
