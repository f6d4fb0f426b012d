"""The one encryption helper for stored secrets (cortex/secrets_box.py)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet

from cortex import secrets_box
from cortex.settings import Settings

ROOT = "a-root-secret-for-the-tests-only-0123456789"


def _settings(secret: str = ROOT) -> Settings:
    return Settings(secret_key=secret)


def test_a_sealed_secret_opens_only_under_its_purpose_and_root_secret() -> None:
    sealed = secrets_box.seal_str(_settings(), "whsec_identity", purpose="widget-identity")
    assert b"whsec_identity" not in sealed and sealed.startswith(b"cbx1:")
    assert secrets_box.open_str(_settings(), sealed, purpose="widget-identity") == "whsec_identity"
    with pytest.raises(secrets_box.SealedSecretError):
        secrets_box.open_str(_settings(), sealed, purpose="signing-keys")
    with pytest.raises(secrets_box.SealedSecretError, match="another CORTEX_SECRET_KEY"):
        secrets_box.open_str(_settings("another-root-secret-entirely-9876543210"), sealed, purpose="widget-identity")


def test_an_altered_secret_is_refused() -> None:
    sealed = bytearray(secrets_box.seal_bytes(_settings(), b"private key", purpose="signing-keys"))
    sealed[-5] ^= 1
    with pytest.raises(secrets_box.SealedSecretError, match="altered"):
        secrets_box.open_bytes(_settings(), bytes(sealed), purpose="signing-keys")


def test_signing_keys_sealed_before_the_helper_still_open() -> None:
    digest = hashlib.sha256(f"signing-keys:{ROOT}".encode()).digest()
    legacy = Fernet(base64.urlsafe_b64encode(digest)).encrypt(b"-----BEGIN PRIVATE KEY-----")
    assert secrets_box.open_bytes(_settings(), legacy, purpose="signing-keys") == b"-----BEGIN PRIVATE KEY-----"
