"""API keys per clinic: a caller acts for one clinic only, or for any when keys are off."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from pydantic import SecretStr

from services.booking.errors import NotAuthorised


class ClinicKeys:
    """Maps an API key to the clinic it belongs to.

    With no keys configured the API is open (the embedded demo on loopback):
    :meth:`clinic_for` returns None, meaning "any clinic".
    """

    def __init__(self, keys: Mapping[str, SecretStr]) -> None:
        self._keys = {clinic: key.get_secret_value() for clinic, key in keys.items()}

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def clinic_for(self, presented: str | None) -> str | None:
        """The clinic whose key was presented; :class:`NotAuthorised` (401) if none matches."""
        if not self._keys:
            return None
        if not presented:
            raise NotAuthorised("an API key is required: send it in the X-API-Key header")
        found = None
        for clinic, key in self._keys.items():
            # Compare against every key, so the time taken does not reveal a near match.
            if secrets.compare_digest(presented.encode(), key.encode()):
                found = clinic
        if found is None:
            raise NotAuthorised("the API key is not valid")
        return found

    def signed(self, clinic_id: str, body: bytes, signature: str) -> bool:
        """Whether ``signature`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body`` under the
        clinic's key (for a sender that signs rather than sends the key)."""
        key = self._keys.get(clinic_id)
        if key is None or not signature.startswith("sha256="):
            return False
        expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        given = signature[len("sha256=") :].strip().lower()
        return secrets.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def require_clinic(caller: str | None, clinic_id: str) -> None:
    """Refuse (403) when a keyed caller acts on another clinic's booking."""
    if caller is not None and caller != clinic_id:
        raise NotAuthorised(
            f"this API key belongs to clinic {caller!r}, not {clinic_id!r}", status_code=403
        )


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what was sent."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None
