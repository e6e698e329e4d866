"""Password hashes: argon2id through argon2-cffi's ``PasswordHasher`` (its default costs)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; a PHC string with its own parameters)."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; never raises.

    With no stored hash (an unknown user) a hash is still checked, so that the
    answer takes as long as for a known user with a wrong password.
    """
    try:
        return _hasher().verify(stored or _decoy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _decoy() -> str:
    return _hasher().hash("not anyone's password, only for timing")
