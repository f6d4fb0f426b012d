"""The one way Cortex encrypts a secret it stores (signing keys, widget identity secrets).

Authenticated encryption (Fernet: AES-128-CBC with HMAC-SHA256) under a key derived from the
root secret (`CORTEX_SECRET_KEY`) for one purpose, so a key derived for one kind of secret opens
no other. A sealed value names the key that sealed it:

    cbx1:<key id>:<fernet token>

The key id is a short digest of the derived key, so a value sealed under another root secret
is refused with a message that says so, instead of a bare "invalid token", and a second
(previous) root secret can later be tried by id without guessing. Values written before this
module existed are bare Fernet tokens under the same derived key; `open_bytes` still reads them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

from cortex.settings import Settings

_PREFIX = "cbx1"


class SealedSecretError(ValueError):
    """A stored secret cannot be opened: another root secret sealed it, or it was altered."""


def _derived(settings: Settings, purpose: str) -> tuple[str, Fernet]:
    # sha256(f"{purpose}:{secret}") is how signing keys were sealed before this module: kept, so
    # every stored key still opens.
    digest = hashlib.sha256(f"{purpose}:{settings.resolved_secret_key()}".encode()).digest()
    key_id = hashlib.sha256(b"cortex-secrets-box-key-id:" + digest).hexdigest()[:8]
    return key_id, Fernet(base64.urlsafe_b64encode(digest))


def seal_bytes(settings: Settings, plaintext: bytes, *, purpose: str) -> bytes:
    """Encrypt `plaintext` for storage; `purpose` names the kind of secret (e.g. "signing-keys")."""
    key_id, fernet = _derived(settings, purpose)
    return f"{_PREFIX}:{key_id}:".encode() + fernet.encrypt(plaintext)


def open_bytes(settings: Settings, sealed: bytes, *, purpose: str) -> bytes:
    """Decrypt what `seal_bytes` stored under the same purpose; SealedSecretError when it cannot."""
    key_id, fernet = _derived(settings, purpose)
    token = bytes(sealed)
    if token.startswith(_PREFIX.encode() + b":"):
        _, sealed_by, token = token.split(b":", 2)
        if sealed_by.decode() != key_id:
            raise SealedSecretError(
                f"this {purpose} secret was sealed under another CORTEX_SECRET_KEY (key id {sealed_by.decode()})"
            )
    try:
        return fernet.decrypt(token)
    except InvalidToken as exc:
        raise SealedSecretError(f"this {purpose} secret was altered or sealed under another key") from exc


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A 32-byte key for one purpose (an HMAC key, say), derived from the root secret: one leaked
    key opens nothing else."""
    return hmac.new(settings.resolved_secret_key().encode(), f"derived:{purpose}".encode(), hashlib.sha256).digest()


def seal_str(settings: Settings, plaintext: str, *, purpose: str) -> bytes:
    """`seal_bytes` for text."""
    return seal_bytes(settings, plaintext.encode(), purpose=purpose)


def open_str(settings: Settings, sealed: bytes, *, purpose: str) -> str:
    """`open_bytes` for text."""
    return open_bytes(settings, sealed, purpose=purpose).decode()
