"""The booking service as a command uses it: from the settings, over its store, closed after.

A clinics file or clock setting that cannot be used ends the command with exit 2 and
one line naming it, not a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ScaledClock
from services.shared.settings import load_settings


@contextmanager
def booking_service() -> Iterator[BookingService]:
    """The service the environment's settings describe; its store closed afterwards."""
    settings = load_settings(BookingSettings)
    try:
        clock = ScaledClock.from_environment()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    store = BookingStore(settings.database_url)
    try:
        try:
            service = BookingService.from_settings(settings, store, clock)
        except (OSError, ValueError) as exc:
            print(f"configuration error: CLINIC_CLINICS_FILE: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
        yield service
    finally:
        store.close()
