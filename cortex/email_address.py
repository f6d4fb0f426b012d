"""E-mail addresses: the one syntax check every service uses (email-validator, no DNS lookup).

`EmailAddress` keeps the address as typed (auth shows an account's address back as its owner
wrote it and compares case-insensitively); `NormalisedEmail` stores the library's canonical
form (domain lower-cased), as core does for what visitors tell it. Deliverability is proven by
mail, never by a lookup on the request path.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Annotated

import email_validator
from pydantic import AfterValidator, StringConstraints

from cortex import secrets_box

if TYPE_CHECKING:
    from cortex.settings import Settings

INVALID_EMAIL = "not a valid e-mail address"
MAX_LENGTH = 254  # RFC 5321's limit on a forward path

# `.local` names a host on the local network; the embedded stack's demo owner is
# demo@cortex.local and its SMTP sink takes mail for any domain.
if "local" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("local")


def normalise_email(value: str) -> str | None:
    """The address in canonical form (domain lower-cased), or None when it is not a valid address."""
    try:
        return email_validator.validate_email(value, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        return None


def _as_typed(value: str) -> str:
    if normalise_email(value) is None:
        raise ValueError(INVALID_EMAIL)
    return value


def _normalised(value: str) -> str:
    email = normalise_email(value)
    if email is None:
        raise ValueError(INVALID_EMAIL)
    return email


_Trimmed = StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LENGTH)
EmailAddress = Annotated[str, _Trimmed, AfterValidator(_as_typed)]
NormalisedEmail = Annotated[str, _Trimmed, AfterValidator(_normalised)]


def email_digest(settings: Settings, email: str | None) -> str | None:
    """An address as services compare it without holding it: HMAC-SHA256, keyed by this installation.

    A plain SHA-256 of an address is reversed by hashing a list of likely addresses; this one needs
    the installation's root secret as well. Case and surrounding space do not change it."""
    if not email:
        return None
    key = secrets_box.derived_key(settings, "email-digest:v1")
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()
