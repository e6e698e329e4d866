"""A patient's erasure as the notifier carries it out: every store of its own, and its sinks.

Called by the booking follower when it reads ``patient.erased`` on the bookings
topic, after every earlier event of the patient (same key, same partition), so
the notifier's record of the patient's bookings still says which bookings, phones
and emails were theirs. In this order:

1. the erasure register (:mod:`erased`): from now on no reminder of theirs made
   before the erasure goes out, nor any of one of their bookings;
2. the replies inbox: the patient's texts, and the phones they came from;
3. the delivery ledger: rows kept for the counts, stripped of booking, patient,
   reason, provider id and payload (:meth:`DeliveryLedger.anonymise`);
4. the consent registry: addresses replaced by their keyed hash, so a STOP holds;
5. the inbound log: the texts' MessageSids and the senders' hashes;
6. the local sinks: the files rewritten without the patient's lines;
7. the bookings seen; then, on SQLite, the database's write-ahead log is emptied,
   so the pages as they were before leave the disk too.

Each step is idempotent, so a booking topic read again (after a crash, or a
broker that forgot) does it again harmlessly; only the first time writes the
notifier's :class:`ErasureRecord` to the erasures topic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.notifier.bookings.seen import BookingsSeen, Contacts
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.patients.inbound import Publish
from services.notifier.patients.inbound_log import InboundLog
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import RepliesInbox
from services.notifier.privacy.erased import ErasureRegister
from services.notifier.privacy.ledger_erasure import LedgerErasure
from services.notifier.senders.local import erase_lines
from services.shared.clock import Clock
from services.shared.erasure import ERASED, ErasureKeys, ErasureRecord, PatientErased
from services.shared.events import encode

log = logging.getLogger(__name__)
SINKS = ("sms.jsonl", "email.jsonl")


@dataclass(frozen=True)
class ErasureStores:
    """Everything of the notifier's that can hold a patient."""

    register: ErasureRegister
    seen: BookingsSeen
    ledger: DeliveryLedger
    registry: ConsentRegistry
    inbox: RepliesInbox
    inbound: InboundLog
    outbox_dir: Path
    """The local sinks' folder (``sms.jsonl``, ``email.jsonl``), looked at whatever the provider."""


class NotifierErasure:
    """Erases one patient from the notifier's stores, then says so on the erasures topic."""

    def __init__(
        self,
        stores: ErasureStores,
        keys: ErasureKeys,
        clock: Clock,
        publish: Publish,
        topic: str,
    ) -> None:
        self._stores = stores
        self._keys = keys
        self._clock = clock
        self._publish = publish
        self._topic = topic

    def erase(self, erased: PatientErased) -> dict[str, int]:
        """Carry out ``erased`` here; return the rows (or lines) that went, per store.

        Blocks on the database; its errors propagate (the follower reads the
        event again). A record the broker does not take is logged, not retried.
        """
        s, now = self._stores, self._clock.now()
        first = s.register.record(erased, now)
        known = s.seen.contacts(erased.clinic_id, erased.patient_id)
        s.register.record_bookings(erased.clinic_id, known.booking_ids)
        texts = s.inbox.erase(erased.clinic_id, erased.patient_id, known.phones)
        phones = known.phones | texts.phones
        counts = {
            "replies": len(texts.message_sids),
            "deliveries": LedgerErasure(s.ledger.engine).anonymise(
                erased.clinic_id, erased.patient_id, known.booking_ids, now, ERASED
            ),
            "consent": s.registry.anonymise(erased.clinic_id, phones, known.emails),
            "inbound": s.inbound.erase(texts.message_sids, phones),
            **self._sinks(erased.clinic_id, Contacts(known.booking_ids, phones, known.emails)),
            "bookings_seen": s.seen.erase(erased.clinic_id, erased.patient_id),
        }
        log.info("erasure %s: %s", erased.erasure_id, _said(counts))
        if first:
            self._record(erased, counts)
        return counts

    def _sinks(self, clinic_id: str, known: Contacts) -> dict[str, int]:
        addresses = known.phones | {e.lower() for e in known.emails}

        def theirs(line: dict[str, Any]) -> bool:
            to = str(line.get("to", ""))
            if to in addresses or to.lower() in addresses:
                return line.get("clinic_id") in (None, clinic_id)
            return (
                line.get("clinic_id") == clinic_id and line.get("booking_id") in known.booking_ids
            )

        return {
            f"{name.split('.')[0]}_lines": erase_lines(self._stores.outbox_dir / name, theirs)
            for name in SINKS
        }

    def _record(self, erased: PatientErased, counts: dict[str, int]) -> None:
        record = ErasureRecord.of(erased, "notifier", self._keys, self._clock.now(), counts)
        try:
            self._publish(self._topic, record.key, encode(record))
        except Exception as exc:  # the broker's errors: the erasure stands, the record is lost
            log.warning("erasure %s: record not taken by the broker (%s)", erased.erasure_id, exc)


def _said(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {store}" for store, n in counts.items())
