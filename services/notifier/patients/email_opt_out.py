"""A patient's unsubscribe link, followed: no more email to that address from that clinic.

Kafka-free and HTTP-free: the web app checks the link (:mod:`unsubscribe`),
calls :meth:`EmailOptOuts.withdraw`, and answers with a page.
"""

from __future__ import annotations

import logging

from services.notifier.patients.inbound import Publish
from services.notifier.patients.registry import ConsentRecord, ConsentRegistry
from services.notifier.patients.unsubscribe import Unsubscribe
from services.shared.clock import Clock
from services.shared.events import Channel, ConsentChanged, encode
from services.shared.masking import mask_text
from services.shared.topics import Topics

log = logging.getLogger(__name__)

UNSUBSCRIBE_SOURCE = "email-unsubscribe"


class EmailOptOuts:
    """Records and publishes email opt-outs; a second one for the same address changes nothing."""

    def __init__(
        self, registry: ConsentRegistry, topics: Topics, clock: Clock, publish: Publish
    ) -> None:
        self._registry = registry
        self._topics = topics
        self._clock = clock
        self._publish = publish

    def in_force(self, asked: Unsubscribe) -> ConsentRecord | None:
        """The opt-out already recorded for the link's address and clinic, if any."""
        return self._registry.opted_out(asked.address, asked.clinic_id, Channel.EMAIL)

    def withdraw(self, asked: Unsubscribe) -> ConsentRecord:
        """Opt the address out of the clinic's email, once; return the opt-out in force.

        Recorded before it is published, so a patient's word holds even when
        the broker does not answer; the publish error then propagates.
        """
        known = self.in_force(asked)
        if known is not None:
            return known
        change = ConsentChanged(
            clinic_id=asked.clinic_id,
            email=asked.address,
            channel=Channel.EMAIL,
            granted=False,
            source=UNSUBSCRIBE_SOURCE,
            occurred_at=self._clock.now(),
        )
        self._registry.record(change)
        self._publish(self._topics.consent, change.key, encode(change))
        log.info("%s opted out of email from %s", mask_text(asked.address), asked.clinic_id)
        return ConsentRecord(
            asked.address,
            asked.clinic_id,
            Channel.EMAIL,
            False,
            UNSUBSCRIBE_SOURCE,
            None,
            change.occurred_at,
        )
