"""The booking store forgets finished and cancelled bookings, and its working records, in time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from services.booking.domain import StatusChange
from services.booking.privacy.retention import BookingRetention
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.sources.fhir.state import FhirState, Seen
from services.booking.store.store import BookingStore
from services.booking.store.tables import (
    booking_events,
    fhir_appointments,
    idempotency_keys,
    outbox,
)
from services.shared.clock import ManualClock
from tests.unit.booking.conftest import NOW, Payload


def rows(store: BookingStore, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_sweep_removes_what_is_past_its_time_and_keeps_the_rest(
    tmp_path: Path, payload: Payload
) -> None:
    clock = ManualClock(NOW)
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    service = BookingService(store, clock, "t.bookings", {"microsclerotherapy"})
    service.create(payload(booking_id="bk-old"), idempotency_key="k-1")
    service.create(payload(booking_id="bk-cancelled", start="2027-06-01T10:00:00+00:00"))
    service.change_status("dr-jenny", "bk-cancelled", StatusChange.CANCEL)
    store.outbox.mark_published([r.id for r in store.outbox.pending()], NOW)
    FhirState(store.engine).keep("fhir-x", "dr-jenny", "bk-cancelled", Seen("2", "cancel"), NOW)
    retention = BookingRetention(finished_days=400, cancelled_days=30)
    nothing_yet = retention.sweep(store.engine, NOW + timedelta(days=20))
    assert nothing_yet == {
        "bookings": 0,
        "published outbox rows": 3,
        "idempotency keys": 0,
        "sent callbacks": 0,
    }
    clock.advance(timedelta(days=300))
    service.create(payload(booking_id="bk-new", start="2027-09-01T10:00:00+00:00"))
    later = retention.sweep(store.engine, NOW + timedelta(days=31 + 400))
    assert later["bookings"] == 2 and later["idempotency keys"] == 1
    assert store.get("dr-jenny", "bk-old") is None
    assert store.get("dr-jenny", "bk-cancelled") is None
    assert store.get("dr-jenny", "bk-new") is not None, "its appointment is 126 days past"
    assert [e.data.booking_id for e in store.history("dr-jenny", "bk-new")] == ["bk-new"]
    assert rows(store, booking_events) == 1
    assert rows(store, fhir_appointments) == 0, "a FHIR server's record goes with its booking"
    assert rows(store, idempotency_keys) == 0
    assert rows(store, outbox) == 1, "not yet published: kept until it is"
    store.close()


def test_dead_letter_topics_are_created_with_the_retention_of_the_settings() -> None:
    settings = BookingSettings(retention_dead_letters_days=10)
    configs = settings.topics.configs()
    ten_days = str(10 * 24 * 3600 * 1000)
    assert configs == {
        settings.topics.bookings_dlq: {"retention.ms": ten_days},
        settings.topics.notifications_dlq: {"retention.ms": ten_days},
        settings.topics.erasures: {"retention.ms": "-1", "retention.bytes": "-1"},
        settings.topics.workers: {"cleanup.policy": "compact"},
    }
