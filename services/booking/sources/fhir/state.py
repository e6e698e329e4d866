"""What each clinic's FHIR server last said, kept in the booking database so that a
restarted follower asks only for what changed since, and acts on each version once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select

from services.booking.store.tables import fhir_appointments, fhir_watermarks
from services.shared.database import stored_utc


def source_name(base_url: str, clinic_id: str) -> str:
    """The name a server's state is kept under: a digest of its address and the clinic."""
    return (
        "fhir-" + hashlib.sha256(f"{base_url.rstrip('/')}\n{clinic_id}".encode()).hexdigest()[:32]
    )


@dataclass(frozen=True)
class Seen:
    """An appointment's version as last acted on, and what it came to (:class:`Action`)."""

    version: str
    action: str


class FhirState:
    """The ``fhir_appointments`` and ``fhir_watermarks`` tables over the booking store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        fhir_appointments.create(engine, checkfirst=True)
        fhir_watermarks.create(engine, checkfirst=True)

    def watermark(self, source: str) -> datetime | None:
        """The latest ``meta.lastUpdated`` seen from ``source``, or None before its first pass."""
        with self._engine.connect() as conn:
            found = conn.execute(
                select(fhir_watermarks.c.last_updated).where(fhir_watermarks.c.source == source)
            ).scalar()
        return None if found is None else stored_utc(found)

    def advance(self, source: str, last_updated: datetime, at: datetime) -> None:
        """Keep ``last_updated`` as the watermark, unless an earlier pass saw a later one."""
        current = self.watermark(source)
        if current is not None and current >= last_updated:
            return
        with self._engine.begin() as conn:
            conn.execute(delete(fhir_watermarks).where(fhir_watermarks.c.source == source))
            conn.execute(
                insert(fhir_watermarks).values(
                    source=source, last_updated=last_updated.astimezone(UTC), updated_at=at
                )
            )

    def seen(self, source: str, appointment_id: str) -> Seen | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(fhir_appointments.c.version, fhir_appointments.c.action).where(
                    fhir_appointments.c.source == source,
                    fhir_appointments.c.appointment_id == appointment_id,
                )
            ).first()
        return None if row is None else Seen(row.version, row.action)

    def keep(
        self, source: str, clinic_id: str, appointment_id: str, seen: Seen, at: datetime
    ) -> None:
        key = (
            fhir_appointments.c.source == source,
            fhir_appointments.c.appointment_id == appointment_id,
        )
        with self._engine.begin() as conn:
            conn.execute(delete(fhir_appointments).where(*key))
            conn.execute(
                insert(fhir_appointments).values(
                    source=source,
                    appointment_id=appointment_id,
                    version=seen.version,
                    clinic_id=clinic_id,
                    action=seen.action,
                    updated_at=at,
                )
            )
