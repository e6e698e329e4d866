"""An erased patient's delivery rows: kept for the counts, stripped of all that leads back."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, update

from services.notifier.delivery.ledger import (
    ERASED_BOOKING,
    LedgerState,
    LedgerTable,
    deliveries,
)


class LedgerErasure(LedgerTable):
    """What an erasure does to the delivery ledger."""

    def anonymise(
        self,
        clinic_id: str,
        patient_id: str,
        booking_ids: Collection[str],
        now: datetime,
        reason: str,
    ) -> int:
        """Strip an erased patient's rows of all that leads back to them; return how many.

        A row is the patient's when it names them, or one of their bookings at
        ``clinic_id``. It keeps its reminder id (a digest, which keeps a replayed
        reminder from going out again), channel, clinic, milestone, state, attempts
        and times, so counts stay right; it loses the booking id, the patient id,
        the reason (a provider's error can quote the number), the provider's
        message id, the reminder kept for a retry and where it was read. A row
        still waiting to go out is skipped with ``reason``.
        """
        mine = or_(
            deliveries.c.patient_id == patient_id, deliveries.c.booking_id.in_(list(booking_ids))
        )
        where = (deliveries.c.clinic_id == clinic_id, mine)
        waiting = (LedgerState.PENDING.value, LedgerState.SENDING.value)
        forgotten = {
            "booking_id": ERASED_BOOKING,
            "patient_id": None,
            "reason": None,
            "provider_id": None,
            "payload": None,
            "next_attempt_at": None,
            "retry_until": None,
            "source_partition": None,
            "source_offset": None,
            "replayed_from": None,
        }
        skipped = {"state": LedgerState.SKIPPED.value, "reason": reason, "updated_at": now}
        with self._engine.begin() as conn:
            stopped = conn.execute(
                update(deliveries)
                .where(*where, deliveries.c.state.in_(waiting))
                .values({**forgotten, **skipped})
            )
            done = conn.execute(update(deliveries).where(*where).values(**forgotten))
            return int(stopped.rowcount) + int(done.rowcount)
