"""Which treatments the booking service accepts: the protocol catalogue's, and any configured."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from services.shared import catalogue


def known_treatments(
    configured: Iterable[str], protocols_dir: Path | None = None
) -> frozenset[str]:
    """The configured treatments, plus every treatment with a protocol file (built in, or in
    the clinic's ``CLINIC_PROTOCOLS_DIR``). ValueError names a protocol file without one."""
    return frozenset(configured) | catalogue.treatments(protocols_dir)
