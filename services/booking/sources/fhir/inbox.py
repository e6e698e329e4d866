"""Pushes from clinics' FHIR servers, kept in the booking database between the answer to
the server and the follower's taking them (:class:`FhirSync`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select

from services.booking.sources.fhir.notifications import Notice
from services.booking.store.tables import fhir_notices


class FhirInbox:
    """The ``fhir_notices`` table over the booking store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        fhir_notices.create(engine, checkfirst=True)

    def put(self, clinic_id: str, notice: Notice, at: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(fhir_notices).values(
                    clinic_id=clinic_id, notice=notice.to_json(), received_at=at
                )
            )

    def waiting(self, clinic_id: str, limit: int = 100) -> Iterator[tuple[int, Notice]]:
        """The clinic's notices, oldest first; each stays until :meth:`done` with its id."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(fhir_notices.c.id, fhir_notices.c.notice)
                .where(fhir_notices.c.clinic_id == clinic_id)
                .order_by(fhir_notices.c.id)
                .limit(limit)
            ).all()
        for row in rows:
            yield row.id, Notice.from_json(row.notice)

    def done(self, notice_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(fhir_notices).where(fhir_notices.c.id == notice_id))

    def count(self, clinic_id: str | None = None) -> int:
        query = select(fhir_notices.c.id)
        if clinic_id is not None:
            query = query.where(fhir_notices.c.clinic_id == clinic_id)
        with self._engine.connect() as conn:
            return len(conn.execute(query).all())
