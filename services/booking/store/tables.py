"""The booking store's tables (SQLAlchemy Core): bookings, history, outbox, idempotency,
clinic callbacks, what each calendar feed last said about each of its events, and
what is left of erased patients (keyed hashes and the audit trail)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SerialId = BigInteger().with_variant(Integer(), "sqlite")

bookings = Table(
    "bookings",
    metadata,
    Column("clinic_id", String(128), primary_key=True),
    Column("booking_id", String(128), primary_key=True),
    Column("patient_id", String(128), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

booking_events = Table(
    "booking_events",
    metadata,
    Column("id", _SerialId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("clinic_id", String(128), nullable=False),
    Column("booking_id", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_booking_events_booking", "clinic_id", "booking_id", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", _SerialId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("key", String(260), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
)
Index(
    "ix_outbox_pending",
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("clinic_id", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

calendar_events = Table(
    "calendar_events",
    metadata,
    Column("feed", String(64), primary_key=True),
    Column("event_key", String(64), primary_key=True),
    Column("uid", Text, nullable=False),
    Column("clinic_id", String(128), nullable=False),
    Column("booking_id", String(128), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

fhir_appointments = Table(
    "fhir_appointments",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("appointment_id", String(128), primary_key=True),
    Column("version", String(128), nullable=False),
    Column("clinic_id", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""What each clinic's FHIR server last said of each appointment (its ``meta.versionId``,
else its ``meta.lastUpdated``) and what was done with it; ``source`` names the server
and clinic (:func:`services.booking.sources.fhir.state.source_name`)."""

fhir_watermarks = Table(
    "fhir_watermarks",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("last_updated", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""The latest ``meta.lastUpdated`` a server gave, by its own clock: the next pass asks
for what changed since (less an overlap)."""

fhir_notices = Table(
    "fhir_notices",
    metadata,
    Column("id", _SerialId, primary_key=True, autoincrement=True),
    Column("clinic_id", String(128), nullable=False),
    Column("notice", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
"""What clinics' FHIR servers pushed, kept from the moment it is acknowledged until the
follower has taken it (seconds): the push is answered at once, and nothing is lost if
the service stops before it is taken."""

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", _SerialId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("clinic_id", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("outcome", Text, nullable=True),
)
"""Events to POST to a clinic's callback URL, queued with the event, tried until done."""
Index(
    "ix_callbacks_pending",
    callbacks.c.next_at,
    postgresql_where=callbacks.c.done_at.is_(None),
    sqlite_where=callbacks.c.done_at.is_(None),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Facts about the store itself, e.g. its ``store_id`` (the broker's marker names it)."""

erased_bookings = Table(
    "erased_bookings",
    metadata,
    Column("booking_hash", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)
"""A keyed hash of each erased booking's clinic and id: that booking id is not booked again."""

erasures = Table(
    "erasures",
    metadata,
    Column("erasure_id", String(64), primary_key=True),
    Column("clinic_id", String(128), nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("requested_by", String(200)),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("counts", Text, nullable=False),
)
"""The audit trail of erasures: who, which clinic, a keyed hash of the patient, when, how many
rows of each table (JSON). No personal data."""
