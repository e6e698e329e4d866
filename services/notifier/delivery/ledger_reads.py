"""What the notifier's own views read of the ledger: counts by state, a row by provider id."""

from __future__ import annotations

from sqlalchemy import func, select

from services.notifier.delivery.ledger import (
    LedgerTable,
    TrackedDelivery,
    deliveries,
    delivery_of,
)


class LedgerReads(LedgerTable):
    """Reads only: the metrics' counts and the status callbacks' lookup."""

    def count_by_state(self) -> dict[str, int]:
        """Rows per state, e.g. ``{"sent": 12, "pending": 1}``."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        with self._engine.connect() as conn:
            return {state: int(count) for state, count in conn.execute(query)}

    def by_provider_id(self, provider_id: str) -> TrackedDelivery | None:
        """The row whose message the provider knows as ``provider_id``, if any."""
        query = select(deliveries).where(deliveries.c.provider_id == provider_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return TrackedDelivery(
            delivery_of(row),
            row["clinic_id"],
            row["booking_id"],
            row["milestone"],
            row["patient_id"],
        )
