"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cortex.errors import Invalid

# OWASP's argon2id baseline (m=19 MiB, t=2, p=1): memory-hard for an offline attacker, and
# ~40 ms a hash on one core here, so logins stay affordable on a 2-core node.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the email is unknown, so a wrong email and a wrong password take the same time.
_DUMMY_HASH = _hasher.hash("cortex-timing-equaliser")
MAX_PASSWORD_LENGTH = 256  # argon2 takes any length; this only stops multi-MB "passwords"


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords from leaked sets (shipped in the zxcvbn package)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, email: str, min_length: int) -> None:
    """Raise Invalid with a reason the user can act on; a password is never echoed back."""
    problems: list[dict[str, str]] = []
    if len(password) < min_length:
        problems.append({"field": "password", "message": f"use at least {min_length} characters"})
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append({"field": "password", "message": f"use at most {MAX_PASSWORD_LENGTH} characters"})
    lowered = password.lower()
    if lowered in _common_passwords() or lowered.rstrip("0123456789!") in _common_passwords():
        problems.append({"field": "password", "message": "this password appears in breached-password lists"})
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in lowered:
        problems.append({"field": "password", "message": "do not use your email address in the password"})
    if len(set(password)) < 4:
        problems.append({"field": "password", "message": "use more different characters"})
    if problems:
        raise Invalid(
            "password does not meet the policy: " + "; ".join(p["message"] for p in problems), details=problems
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account (or its password) exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
