"""What no service starts with: an open door beyond loopback, a short key, an example secret.

Each service's settings list their own refusals (``refusals()``) from the rules
here; :func:`services.shared.settings.load_settings` prints one line for each
and exits 2 before anything listens. The embedded demo on loopback, with no
keys and no secrets set, starts as before.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from pydantic import SecretStr

MIN_KEY_CHARACTERS = 32
"""An API key or bearer token shorter than this can be guessed or was typed by hand."""

EXAMPLE_VALUES = frozenset({"change-me", "changeme", "change_me", "secret", "password", "example"})
"""What deploy/env.example and the docs show; never a secret of anyone's."""
_PLACEHOLDER = re.compile(r"^(AC|MG|SK)?x{8,}$", re.IGNORECASE)
"""Twilio ids as the env file shows them (``ACxxxx...``)."""


def on_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def is_example(value: str) -> bool:
    return value.strip().lower() in EXAMPLE_VALUES or bool(_PLACEHOLDER.match(value.strip()))


def example_values(named: Mapping[str, SecretStr | str | None]) -> list[str]:
    """A refusal for each variable still holding an example value."""
    found = []
    for name, value in named.items():
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text and is_example(text):
            found.append(
                f"{name} is still the example value {text!r}: set one of your own "
                "(e.g. `openssl rand -hex 32`, docs/deploy.md)"
            )
    return found


def short_keys(name: str, keys: Mapping[str, SecretStr]) -> list[str]:
    """A refusal for each clinic's key shorter than :data:`MIN_KEY_CHARACTERS`."""
    return [
        f"{name}: the key of clinic {clinic!r} has {len(key.get_secret_value())} characters; "
        f"at least {MIN_KEY_CHARACTERS} are needed (e.g. `openssl rand -hex 32`)"
        for clinic, key in keys.items()
        if len(key.get_secret_value()) < MIN_KEY_CHARACTERS
    ]


def short_token(name: str, token: SecretStr | None) -> list[str]:
    """A refusal when a set bearer token is shorter than :data:`MIN_KEY_CHARACTERS`."""
    if token is None or not token.get_secret_value():
        return []
    length = len(token.get_secret_value())
    if length >= MIN_KEY_CHARACTERS:
        return []
    return [
        f"{name} has {length} characters; at least {MIN_KEY_CHARACTERS} are needed "
        "(e.g. `openssl rand -hex 32`)"
    ]
