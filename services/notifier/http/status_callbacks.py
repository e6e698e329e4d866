"""Twilio's status callbacks: the provider's final word on a text, into the ledger and out.

Only the final states change anything: ``delivered``, and ``undelivered`` or
``failed`` (with Twilio's error code as the reason). ``queued``, ``sent`` and
the like are acknowledged and ignored, as is a callback repeated or late.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from services.notifier.delivery.jobs import published_status
from services.notifier.delivery.ledger import DeliveryLedger, LedgerState, TrackedDelivery
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.patients.inbound import Publish
from services.shared.clock import Clock
from services.shared.events import encode, patient_key
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics

log = logging.getLogger(__name__)

FINAL = {
    "delivered": LedgerState.DELIVERED,
    "undelivered": LedgerState.FAILED,
    "failed": LedgerState.FAILED,
}


class CallbackResult(StrEnum):
    UPDATED = "updated"
    NOT_FINAL = "not final"
    ALREADY_SETTLED = "already settled"
    UNKNOWN_MESSAGE = "unknown message"


class StatusCallbacks:
    """Settles ledger rows by the provider's message id and publishes each change."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        topics: Topics,
        clock: Clock,
        publish: Publish,
        metrics: PlatformMetrics,
    ) -> None:
        self._ledger = ledger
        self._reads = LedgerReads(ledger.engine)
        self._topics = topics
        self._clock = clock
        self._publish = publish
        self._metrics = metrics

    def handle(self, message_sid: str, status: str, error_code: str | None) -> CallbackResult:
        """Apply one callback. Blocks on the database and the broker; their errors propagate."""
        state = FINAL.get(status.lower())
        if state is None:
            return CallbackResult.NOT_FINAL
        if self._reads.by_provider_id(message_sid) is None:
            log.warning("status callback for %s, which this notifier did not send", message_sid)
            return CallbackResult.UNKNOWN_MESSAGE
        reason = _reason(status.lower(), error_code) if state is LedgerState.FAILED else None
        if not self._ledger.settle(message_sid, state, self._clock.now(), reason):
            return CallbackResult.ALREADY_SETTLED
        settled = self._reads.by_provider_id(message_sid)
        assert settled is not None  # the row was just updated
        self._announce(settled)
        return CallbackResult.UPDATED

    def _announce(self, tracked: TrackedDelivery) -> None:
        row = tracked.delivery
        status = published_status(row, tracked.clinic_id, tracked.booking_id, tracked.milestone)
        key = patient_key(tracked.clinic_id, tracked.patient_id) if tracked.patient_id else None
        self._publish(self._topics.status, key, encode(status))
        self._metrics.record_delivery(row.channel.value, status.state.value, row.reason)


def _reason(status: str, error_code: str | None) -> str:
    # The error code leads, so that the metrics label of the reason is the code.
    if error_code:
        return f"{error_code}: Twilio reports the text {status}"
    return f"Twilio reports the text {status}, without an error code"
