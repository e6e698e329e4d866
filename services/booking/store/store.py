"""The booking store: bookings, their history and the outbox, written together.

Every change writes the new snapshot, its event in the history and the same
event in the outbox in ONE database transaction, so a booking that was
accepted is a booking that will be published (see :mod:`services.booking.publishing.relay`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from services.booking.errors import BookingNotFound, Conflict, ErasedBooking
from services.booking.store import callback_queue, erased_bookings
from services.booking.store.idempotency import IdempotencyKey, first_result, remember
from services.booking.store.outbox import Outbox, queue_outbox
from services.booking.store.tables import booking_events, bookings, metadata
from services.shared.database import make_engine
from services.shared.events import Booking, BookingEvent


@dataclass(frozen=True)
class Recorded:
    """The outcome of a write: the event, and whether it is the first result replayed."""

    event: BookingEvent
    replayed: bool = False

    @property
    def booking(self) -> Booking:
        return self.event.data


class BookingStore:
    """Bookings in SQLite (a file URL) or PostgreSQL (``postgresql+psycopg://...``).

    Creates its tables if missing when constructed; safe to share between threads.
    Its ``outbox`` is what the relay publishes (:mod:`outbox`).
    """

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        metadata.create_all(self._engine)
        self.outbox = Outbox(self._engine)

    @property
    def engine(self) -> Engine:
        """The engine, for tables kept beside the bookings (e.g. calendar feed state)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        """Raise the driver's error if the database cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(select(1))

    # -- reads --------------------------------------------------------------

    def get(self, clinic_id: str, booking_id: str) -> Booking | None:
        """The booking's current snapshot, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(bookings.c.snapshot).where(
                    bookings.c.clinic_id == clinic_id, bookings.c.booking_id == booking_id
                )
            ).first()
        return None if row is None else Booking.model_validate_json(row.snapshot)

    def iter_bookings(self, clinic_id: str | None = None) -> Iterator[Booking]:
        """Every booking (of one clinic, if given), ordered by clinic and booking id.

        Streams in pages; a booking changed meanwhile is seen at most once.
        """
        after = ("", "")
        while True:
            page = self._page(clinic_id, after, 500)
            if not page:
                return
            yield from page
            after = (page[-1].clinic_id, page[-1].booking_id)

    def _page(self, clinic_id: str | None, after: tuple[str, str], size: int) -> list[Booking]:
        query = (
            select(bookings.c.snapshot)
            .where(tuple_(bookings.c.clinic_id, bookings.c.booking_id) > tuple_(*after))
            .order_by(bookings.c.clinic_id, bookings.c.booking_id)
            .limit(size)
        )
        if clinic_id is not None:
            query = query.where(bookings.c.clinic_id == clinic_id)
        with self._engine.connect() as conn:
            return [Booking.model_validate_json(r.snapshot) for r in conn.execute(query)]

    def clinics_of(self, booking_id: str) -> list[str]:
        """The clinics that have a booking with this id (booking ids are unique per clinic)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(bookings.c.clinic_id)
                .where(bookings.c.booking_id == booking_id)
                .order_by(bookings.c.clinic_id)
            )
            return [r.clinic_id for r in rows]

    def history(self, clinic_id: str, booking_id: str) -> list[BookingEvent]:
        """The booking's events, oldest first (empty if there is no such booking)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(booking_events.c.payload)
                .where(
                    booking_events.c.clinic_id == clinic_id,
                    booking_events.c.booking_id == booking_id,
                )
                .order_by(booking_events.c.id)
            )
            return [BookingEvent.model_validate_json(r.payload) for r in rows]

    # -- writes -------------------------------------------------------------

    def insert(
        self,
        event: BookingEvent,
        topic: str,
        fingerprint: str,
        idempotency: IdempotencyKey | None = None,
    ) -> Recorded:
        """Record a new booking with its ``booking.created`` event and outbox row.

        A repeat of the same booking (same ``fingerprint``) or of the same
        idempotency key returns the first result with ``replayed=True``.

        Raises:
            Conflict: the booking id or the key was used for a different request.
        """
        return self._retrying(
            lambda conn: self._insert(conn, event, topic, fingerprint, idempotency)
        )

    def _insert(
        self,
        conn: Connection,
        event: BookingEvent,
        topic: str,
        fingerprint: str,
        idempotency: IdempotencyKey | None,
    ) -> Recorded:
        booking = event.data
        if first := self._replay(conn, booking.clinic_id, idempotency):
            return first
        row = conn.execute(
            select(bookings.c.fingerprint).where(
                bookings.c.clinic_id == booking.clinic_id,
                bookings.c.booking_id == booking.booking_id,
            )
        ).first()
        if row is not None:
            if row.fingerprint != fingerprint:
                raise Conflict(
                    f"booking {booking.booking_id!r} already exists at clinic "
                    f"{booking.clinic_id!r} with different details"
                )
            return Recorded(self._first_event(conn, booking), replayed=True)
        if erased_bookings.is_erased(conn, booking.clinic_id, booking.booking_id):
            raise ErasedBooking(booking.clinic_id, booking.booking_id)
        conn.execute(
            insert(bookings).values(
                clinic_id=booking.clinic_id,
                booking_id=booking.booking_id,
                fingerprint=fingerprint,
                revision=1,
                **_columns(event),
            )
        )
        self._append(conn, event, topic, idempotency)
        return Recorded(event)

    def update(
        self,
        clinic_id: str,
        booking_id: str,
        change: Callable[[Booking], BookingEvent],
        topic: str,
        idempotency: IdempotencyKey | None = None,
        callback: bool = False,
    ) -> Recorded:
        """Apply ``change`` to the current snapshot and record its event, atomically.

        ``change`` runs inside the transaction and may raise to refuse (nothing
        is written then). With ``callback`` the event is also queued for the
        clinic's callback URL (:mod:`callback_queue`), in the same transaction.

        Raises:
            BookingNotFound: no such booking at this clinic.
            Conflict: the key was used for a different request, or the booking
                changed between read and write (try again).
        """

        def work(conn: Connection) -> Recorded:
            recorded = self._update(conn, clinic_id, booking_id, change, topic, idempotency)
            if callback and not recorded.replayed:
                callback_queue.queue(conn, recorded.event)
            return recorded

        return self._retrying(work)

    def _update(
        self,
        conn: Connection,
        clinic_id: str,
        booking_id: str,
        change: Callable[[Booking], BookingEvent],
        topic: str,
        idempotency: IdempotencyKey | None,
    ) -> Recorded:
        if first := self._replay(conn, clinic_id, idempotency):
            return first
        where = (bookings.c.clinic_id == clinic_id, bookings.c.booking_id == booking_id)
        row = conn.execute(
            select(bookings.c.snapshot, bookings.c.revision).where(*where).with_for_update()
        ).first()
        if row is None:
            raise BookingNotFound(clinic_id, booking_id)
        event = change(Booking.model_validate_json(row.snapshot))
        done = conn.execute(
            update(bookings)
            .where(*where, bookings.c.revision == row.revision)
            .values(revision=row.revision + 1, **_columns(event))
        )
        if done.rowcount != 1:
            raise Conflict(f"booking {booking_id!r} changed meanwhile; try again")
        self._append(conn, event, topic, idempotency)
        return Recorded(event)

    def _retrying(self, work: Callable[[Connection], Recorded]) -> Recorded:
        # A unique-key race (two first requests at once) is settled by running again:
        # the second run finds the winner's row and replays it or reports the conflict.
        for attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def replay(self, clinic_id: str, idempotency: IdempotencyKey) -> Recorded | None:
        """The first result recorded under this key, or None if the key is new.

        Raises:
            Conflict: the key was used for a different request.
        """
        with self._engine.connect() as conn:
            return self._replay(conn, clinic_id, idempotency)

    def _replay(
        self, conn: Connection, clinic_id: str, idempotency: IdempotencyKey | None
    ) -> Recorded | None:
        first = first_result(conn, clinic_id, idempotency)
        return None if first is None else Recorded(first, replayed=True)

    def _first_event(self, conn: Connection, booking: Booking) -> BookingEvent:
        payload = conn.execute(
            select(booking_events.c.payload)
            .where(
                booking_events.c.clinic_id == booking.clinic_id,
                booking_events.c.booking_id == booking.booking_id,
            )
            .order_by(booking_events.c.id)
            .limit(1)
        ).scalar_one()
        return BookingEvent.model_validate_json(payload)

    def _append(
        self, conn: Connection, event: BookingEvent, topic: str, idempotency: IdempotencyKey | None
    ) -> None:
        payload = event.model_dump_json()
        conn.execute(
            insert(booking_events).values(
                event_id=event.event_id,
                clinic_id=event.clinic_id,
                booking_id=event.data.booking_id,
                type=event.type.value,
                occurred_at=event.occurred_at,
                payload=payload,
            )
        )
        remember(conn, event, idempotency)
        queue_outbox(conn, event.event_id, event.key, topic, payload, event.occurred_at)


def _columns(event: BookingEvent) -> dict[str, object]:
    booking = event.data
    return {
        "patient_id": booking.patient.id,
        "status": booking.status.value,
        "start_at": booking.start,
        "snapshot": booking.model_dump_json(),
        "updated_at": event.occurred_at,
    }
