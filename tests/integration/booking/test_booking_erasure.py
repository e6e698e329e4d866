"""A patient erased from the booking store, on SQLite and the real PostgreSQL: every row of
theirs gone, nobody else's touched, the erasure queued last, its audit record anonymous."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from services.booking import domain
from services.booking.errors import ErasedBooking
from services.booking.privacy.erasure import PatientEraser
from services.booking.sources.fhir.state import FhirState, Seen
from services.booking.store import callback_queue
from services.booking.store.idempotency import IdempotencyKey
from services.booking.store.store import BookingStore
from services.booking.store.tables import calendar_events, erasures, metadata
from services.shared.erasure import ErasureKeys, ErasureRecord, PatientErased
from services.shared.events import Booking, BookingEventType, Patient, decode
from services.shared.topics import Topics
from tests.integration.booking.conftest import NOW

pytestmark = pytest.mark.integration
TOPICS = Topics()
KEYS = ErasureKeys(b"k" * 32)
PHONE, EMAIL, NAME = "+447700900987", "wilhelmina@example.com", "Wilhelmina"


def booking(booking_id: str, patient_id: str, name: str, phone: str, email: str) -> Booking:
    return Booking(
        clinic_id="dr-jenny",
        booking_id=booking_id,
        patient=Patient(id=patient_id, first_name=name, phone=phone, email=email),
        treatment="microsclerotherapy",
        kind="treatment",
        start=NOW + timedelta(days=30),
        booked_at=NOW,
    )


def book(store: BookingStore, made: Booking, key: str | None = None) -> None:
    event = domain.event_for(made, BookingEventType.CREATED, NOW, "test")
    idem = IdempotencyKey(key, "fp-" + key) if key else None
    store.insert(event, TOPICS.bookings, domain.booking_fingerprint(made), idem)


def everything(store: BookingStore) -> str:
    """Every row of every table of the store, as text."""
    with store.engine.connect() as conn:
        return "\n".join(
            f"{table.name}: {row}"
            for table in metadata.sorted_tables
            for row in conn.execute(select(table))
        )


@pytest.fixture
def stored(store: BookingStore) -> BookingStore:
    """Wilhelmina (two bookings, a key, a confirmation for the clinic's callback, a calendar
    record, a FHIR server's record, one row published) and Jane (one booking), at dr-jenny."""
    book(store, booking("bk-w1", "p-w", NAME, PHONE, EMAIL), key="create-w1")
    book(store, booking("bk-w2", "p-w", NAME, PHONE, EMAIL))
    book(store, booking("bk-j1", "p-j", "Jane", "+447700900123", "jane@example.com"))
    store.outbox.mark_published([store.outbox.pending()[0].id], NOW)
    store.update("dr-jenny", "bk-w1", domain.confirm(NOW, "sms"), TOPICS.bookings, callback=True)
    with store.engine.begin() as conn:
        conn.execute(
            insert(calendar_events).values(
                feed="f",
                event_key="e1",
                uid="uid-1@practice",
                clinic_id="dr-jenny",
                booking_id="bk-w2",
                start_at=NOW,
                sequence=0,
                state="active",
                updated_at=NOW,
            )
        )
    FhirState(store.engine).keep("fhir-x", "dr-jenny", "bk-w1", Seen("3", "book"), NOW)
    return store


def test_every_row_of_the_patient_goes_and_the_others_stay(stored: BookingStore) -> None:
    erasure = PatientEraser(stored, KEYS, TOPICS).erase("dr-jenny", "p-w", NOW, "test")

    assert erasure.counts == {
        "bookings": 2,
        "booking_events": 3,
        "outbox": 3,
        "outbox_unpublished": 2,
        "idempotency_keys": 1,
        "callbacks": 1,
        "calendar_events": 1,
        "fhir_appointments": 1,
    }
    left = everything(stored)
    for trace in (PHONE, EMAIL, NAME, "bk-w1", "bk-w2", "create-w1", "uid-1@practice"):
        assert trace not in left, trace
    assert stored.get("dr-jenny", "bk-j1") is not None
    assert len(stored.history("dr-jenny", "bk-j1")) == 1
    assert callback_queue.CallbackQueue(stored.engine).due(NOW + timedelta(days=1)) == []


def test_the_erasure_is_queued_after_everything_else_and_its_record_is_anonymous(
    stored: BookingStore,
) -> None:
    PatientEraser(stored, KEYS, TOPICS).erase("dr-jenny", "p-w", NOW, "api key of dr-jenny")

    *before, erased, audit = stored.outbox.pending()
    assert [r.key for r in before] == ["dr-jenny:p-j"]
    assert (erased.topic, erased.key) == (TOPICS.bookings, "dr-jenny:p-w")
    event = decode(PatientErased, erased.payload)
    assert (event.clinic_id, event.patient_id, event.erased_at) == ("dr-jenny", "p-w", NOW)
    assert audit.topic == TOPICS.erasures
    record = decode(ErasureRecord, audit.payload)
    assert record.erasure_id == event.erasure_id
    assert record.patient_hash == KEYS.patient("dr-jenny", "p-w")
    assert (record.service, record.requested_by) == ("booking", "api key of dr-jenny")
    for text in (audit.payload.decode(), _audit_rows(stored)):
        for trace in (PHONE, EMAIL, NAME, "p-w", "bk-w"):
            assert trace not in text, trace
    assert json.loads(_audit_rows(stored).split("|")[-1])["bookings"] == 2


def test_an_erased_booking_id_is_not_booked_again_but_the_patient_may_come_back(
    stored: BookingStore,
) -> None:
    PatientEraser(stored, KEYS, TOPICS).erase("dr-jenny", "p-w", NOW, "test")

    with pytest.raises(ErasedBooking, match="bk-w1"):
        book(stored, booking("bk-w1", "p-w", NAME, PHONE, EMAIL))
    book(stored, booking("bk-w3", "p-w", NAME, PHONE, EMAIL))
    book(stored, booking("bk-w1", "p-w", NAME, PHONE, EMAIL).model_copy(update={"clinic_id": "x"}))

    assert stored.get("dr-jenny", "bk-w3") is not None
    assert stored.get("x", "bk-w1") is not None


def test_a_patient_the_store_never_knew_is_erased_all_the_same(store: BookingStore) -> None:
    erasure = PatientEraser(store, KEYS, TOPICS).erase("dr-jenny", "p-nobody", NOW, "test")

    assert set(erasure.counts.values()) == {0}
    assert [r.topic for r in store.outbox.pending()] == [TOPICS.bookings, TOPICS.erasures]


def _audit_rows(store: BookingStore) -> str:
    with store.engine.connect() as conn:
        return "\n".join("|".join(map(str, row)) for row in conn.execute(select(erasures)))


def test_on_sqlite_the_files_keep_none_of_the_patients_bytes(
    stored: BookingStore, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps dead rows until VACUUM (docs/privacy.md)")
    path = Path(database_url.removeprefix("sqlite:///"))

    PatientEraser(stored, KEYS, TOPICS).erase("dr-jenny", "p-w", NOW, "test")

    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert [t for t in (PHONE, EMAIL, NAME) if t.encode() in raw] == []
