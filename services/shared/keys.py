"""Secret keys a service takes from its settings, or makes once and keeps in a file.

The local default runs without secrets: a key is then made on first use (32
random bytes) and kept under ``var_dir``, so it survives restarts of the
processes that share that folder. Wherever processes do not share one
``var_dir``, the secret must be set for all of them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

MIN_KEY_BYTES = 16


def kept_key(secret: SecretStr | None, path: Path, what: str, hint: str) -> bytes:
    """The secret's bytes; without one, the key kept in ``path`` (made there if missing).

    Raises ``ValueError`` naming ``path`` and ``what`` it should hold when the
    file holds something else; ``hint`` says what removing it would cost.
    """
    if secret is not None and secret.get_secret_value():
        return secret.get_secret_value().encode()
    if not path.exists():
        _keep_new_key(path)
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{path} does not hold {what} ({MIN_KEY_BYTES * 2}+ hex digits); {hint}")
    return key


def _keep_new_key(path: Path) -> None:
    # Written aside and linked into place, so that a process starting at the same
    # moment reads either no file or the whole key, and both end with the same one.
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f"{path.name}.{os.getpid()}")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_bytes(32).hex())
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()
