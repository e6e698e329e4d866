"""Unsubscribe links: a signed, per-recipient URL on the notifier, and the headers that carry it.

A link names a clinic, an address and a channel, sealed with a key derived
from the notifier's secret (AES-256-GCM): only the notifier can make or read
one, nobody can turn Jane's link into someone else's, and the address is not
in the link for a proxy's log to keep. The link is
``/v1/unsubscribe/e1.{sealed}``, base64url; its nonce is derived from what it
seals, so one recipient always gets the same link. Links made before they were
sealed (``{fields}.{signature}``: the fields base64url, signed with
HMAC-SHA256) are still honoured.
HTTP-free and Kafka-free; :mod:`unsubscribe_web` serves it, :mod:`email_opt_out`
acts on it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from services.shared.events import Channel
from services.shared.keys import kept_key

PATH = "/v1/unsubscribe/"
ONE_CLICK = "List-Unsubscribe=One-Click"
"""RFC 8058: the header that says a POST unsubscribes, and the body that POST carries."""
KEY_FILE = "unsubscribe.key"

_CONTEXT = b"clinic-reminders unsubscribe v1\x00"
_SEAL_KEY = b"clinic-reminders unsubscribe sealing key v1"
_NONCE = b"clinic-reminders unsubscribe nonce v1\x00"
SEALED = "e1"
"""The first part of a sealed link's token; an older signed link never starts so."""
_TOKEN = re.compile(r"([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]*))?")


class InvalidLink(ValueError):
    """A link this notifier did not make, or one altered since; the message says which."""


@dataclass(frozen=True)
class Unsubscribe:
    """What a valid link asks: no more messages on ``channel`` to ``address`` from ``clinic_id``."""

    clinic_id: str
    address: str
    channel: Channel


class UnsubscribeLinks:
    """Makes and reads the links of one notifier (``key``) at one public address (``base_url``)."""

    def __init__(self, key: bytes, base_url: str) -> None:
        self._key = key
        self._base = base_url.rstrip("/")
        self._cipher = AESGCM(hmac.new(key, _SEAL_KEY, hashlib.sha256).digest())

    def url(self, clinic_id: str, address: str) -> str:
        """The link that unsubscribes ``address`` from ``clinic_id``'s email."""
        fields = "\x00".join((Channel.EMAIL.value, clinic_id, address)).encode()
        return f"{self._base}{PATH}{SEALED}.{_b64(self._seal(fields))}"

    def headers(self, clinic_id: str, address: str) -> dict[str, str]:
        """RFC 2369 ``List-Unsubscribe`` with RFC 8058 one-click, for an email to ``address``."""
        return {
            "List-Unsubscribe": f"<{self.url(clinic_id, address)}>",
            "List-Unsubscribe-Post": ONE_CLICK,
        }

    def read(self, token: str) -> Unsubscribe:
        """What the link's last path segment asks, once its signature is checked.

        Raises:
            InvalidLink: the token is not shaped like a link, has no signature,
                or its signature does not match its fields.
        """
        shape = _TOKEN.fullmatch(token)
        if shape is None:
            raise InvalidLink("this is not an unsubscribe link")
        if shape.group(1) == SEALED:
            fields = self._open(_unb64(shape.group(2) or "") or b"")
        else:
            fields = self._signed(_unb64(shape.group(1)), _unb64(shape.group(2) or ""))
        try:
            channel, clinic_id, address = fields.decode().split("\x00", 2)
            return Unsubscribe(clinic_id, address, Channel(channel))
        except ValueError as exc:  # sealed by this key, so never in practice
            raise InvalidLink("this is not an unsubscribe link") from exc

    def _seal(self, fields: bytes) -> bytes:
        nonce = hmac.new(self._key, _NONCE + fields, hashlib.sha256).digest()[:12]
        return nonce + self._cipher.encrypt(nonce, fields, _CONTEXT)

    def _open(self, sealed: bytes) -> bytes:
        try:
            return self._cipher.decrypt(sealed[:12], sealed[12:], _CONTEXT)
        except (InvalidTag, ValueError) as exc:
            raise InvalidLink(
                "the link's seal does not match: it was changed, "
                "or made with another CLINIC_UNSUBSCRIBE_SECRET"
            ) from exc

    def _signed(self, fields: bytes | None, signature: bytes | None) -> bytes:
        if not signature:
            raise InvalidLink("the link has no signature")
        if fields is None or not hmac.compare_digest(signature, self._sign(fields)):
            raise InvalidLink(
                "the link's signature does not match: it was changed, "
                "or made with another CLINIC_UNSUBSCRIBE_SECRET"
            )
        return fields

    def _sign(self, fields: bytes) -> bytes:
        return hmac.new(self._key, _CONTEXT + fields, hashlib.sha256).digest()


def signing_key(secret: SecretStr | None, var_dir: Path) -> bytes:
    """The secret's bytes; without one, a random key kept in ``{var_dir}/unsubscribe.key``.

    The kept key is made once (32 random bytes) and read back at every start,
    so links stay valid across restarts of one notifier with one ``var_dir``;
    notifiers that share a database but not a ``var_dir`` need the secret.
    """
    return kept_key(
        secret,
        var_dir / KEY_FILE,
        "an unsubscribe key",
        "removing it makes a new one, and every link already sent stops working",
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
