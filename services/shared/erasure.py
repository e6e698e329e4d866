"""A patient's erasure: the event every service acts on, the audit record, keyed hashes.

A clinic asks for a patient to be forgotten (``DELETE /v1/clinics/{c}/patients/{p}``
or ``clinic-reminders patient erase``). The booking service erases its own store
and queues :class:`PatientErased` in its outbox, keyed ``clinic:patient`` like
every other event about the patient, so the reminders worker and the notifier's
booking follower meet it on ``clinic.bookings.v1`` after everything published
about the patient before it, and erase what they keep. Each service then writes
an :class:`ErasureRecord` on ``clinic.erasures.v1``: who asked, which clinic, a
keyed hash of the patient id, when, and how many rows of each of its stores went.
No phone number, address, name or id in clear.

The hashes are HMAC-SHA256 with the platform's erasure key (``CLINIC_ERASURE_SECRET``,
else a key kept in ``{var_dir}/erasure.key``): patient ids are often short and
guessable, so a plain digest would name the patient to anyone who tried them.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr

from services.shared.events import (
    SCHEMA_VERSION,
    BookingEvent,
    Frozen,
    InvalidEvent,
    KeyPart,
    UtcDatetime,
    decode,
    patient_key,
)
from services.shared.keys import kept_key

ERASED = "patient erased"
"""The reason given for anything of an erased patient dropped on its way."""
KEY_FILE = "erasure.key"


class PatientErased(Frozen):
    """On ``clinic.bookings.v1``: forget this patient of this clinic, everywhere.

    Everything about the patient published before it is about the patient erased;
    a booking event after it is a new booking (the patient came back).
    """

    type: Literal["patient.erased"] = "patient.erased"
    schema_version: Literal[1] = SCHEMA_VERSION
    erasure_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    clinic_id: KeyPart
    patient_id: KeyPart
    erased_at: UtcDatetime

    @property
    def key(self) -> str:
        return patient_key(self.clinic_id, self.patient_id)


class ErasureRecord(Frozen):
    """On ``clinic.erasures.v1``: one service's part of one erasure, for the audit trail.

    ``counts`` is rows (or lines, or plans) per store, e.g. ``{"bookings": 2}``;
    ``requested_by`` is who asked (the booking service's record says it).
    """

    type: Literal["erasure.recorded"] = "erasure.recorded"
    schema_version: Literal[1] = SCHEMA_VERSION
    erasure_id: str
    service: Annotated[str, Field(min_length=1, max_length=32)]
    clinic_id: KeyPart
    patient_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    requested_by: Annotated[str, Field(max_length=200)] | None = None
    erased_at: UtcDatetime
    """When the erasure was asked for (the booking service's time)."""
    recorded_at: UtcDatetime
    counts: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(
        cls,
        erased: PatientErased,
        service: str,
        keys: ErasureKeys,
        recorded_at: datetime,
        counts: dict[str, int],
        requested_by: str | None = None,
    ) -> ErasureRecord:
        """``service``'s record of ``erased``: the patient named only by their keyed hash."""
        return cls(
            erasure_id=erased.erasure_id,
            service=service,
            clinic_id=erased.clinic_id,
            patient_hash=keys.patient(erased.clinic_id, erased.patient_id),
            requested_by=requested_by,
            erased_at=erased.erased_at,
            recorded_at=recorded_at,
            counts=counts,
        )

    @property
    def key(self) -> str:
        return self.erasure_id


def decode_booking_topic(raw: bytes | str) -> BookingEvent | PatientErased:
    """A record of ``clinic.bookings.v1``: a booking event, or a patient's erasure.

    Raises :class:`InvalidEvent` naming what is wrong with it.
    """
    try:
        return decode(BookingEvent, raw)
    except InvalidEvent:
        text = raw if isinstance(raw, str) else raw.decode(errors="replace")
        if "patient.erased" not in text:
            raise
    return decode(PatientErased, raw)


class ErasureKeys:
    """Keyed hashes of what identifies a patient, the same in every service."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def patient(self, clinic_id: str, patient_id: str) -> str:
        """The hash that stands for one patient of one clinic (hex, 64 digits)."""
        return self._digest(b"patient", f"{clinic_id}\x00{patient_id}")

    def address(self, address: str) -> str:
        """What the consent registry keeps of an erased patient's phone or email address."""
        return "hmac:" + self._digest(b"address", address)

    def value(self, kind: str, value: str) -> str:
        """A keyed hash of any other value (``kind`` keeps the uses apart)."""
        return self._digest(kind.encode(), value)

    def _digest(self, kind: bytes, value: str) -> str:
        message = b"clinic-reminders erasure v1\x00" + kind + b"\x00" + value.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def erasure_keys(secret: SecretStr | None, var_dir: Path) -> ErasureKeys:
    """The erasure keys: from ``CLINIC_ERASURE_SECRET``, else ``{var_dir}/erasure.key``."""
    hint = (
        "removing it makes a new one, and erasures already recorded are no longer "
        "recognised (erased patients' dead letters reappear, their hashed opt-outs no longer match)"
    )
    return ErasureKeys(kept_key(secret, var_dir / KEY_FILE, "an erasure key", hint))


class ErasedPatients:
    """Which patients were erased, and when, and which bookings were theirs: what views and
    deliveries look up. Safe to read from any thread while one thread adds."""

    def __init__(self, keys: ErasureKeys, erased: Iterable[tuple[str, str, datetime]] = ()) -> None:
        self._keys = keys
        self._at: dict[tuple[str, str], datetime] = {}
        self._bookings: frozenset[str] = frozenset()
        for clinic_id, patient_hash, at in erased:
            self.add(clinic_id, patient_hash, at)

    def add_bookings(self, booking_hashes: Iterable[str]) -> None:
        """Note bookings of erased patients, by :meth:`booking_hash`."""
        self._bookings = self._bookings | frozenset(booking_hashes)

    def booking_hash(self, clinic_id: str, booking_id: str) -> str:
        return self._keys.value("booking", f"{clinic_id}\x00{booking_id}")

    def booking_erased(self, clinic_id: str, booking_id: str) -> bool:
        """True when this booking belonged to a patient since erased (whenever it is asked:
        an erased booking id is never booked again)."""
        return bool(self._bookings) and self.booking_hash(clinic_id, booking_id) in self._bookings

    def add(self, clinic_id: str, patient_hash: str, at: datetime) -> None:
        """Note an erasure (a later one of the same patient moves the time on)."""
        known = self._at.get((clinic_id, patient_hash))
        self._at = {**self._at, (clinic_id, patient_hash): max(at, known) if known else at}

    def erased_at(self, clinic_id: str, patient_id: str) -> datetime | None:
        """When this patient was last erased, or None."""
        return self._at.get((clinic_id, self._keys.patient(clinic_id, patient_id)))

    def covers(self, clinic_id: str, patient_id: str, made_at: datetime | None) -> bool:
        """True when something about this patient made at ``made_at`` (None: unknown) was
        made before their erasure, and so must be dropped or hidden."""
        at = self.erased_at(clinic_id, patient_id)
        return at is not None and (made_at is None or made_at <= at)

    def __len__(self) -> int:
        return len(self._at)
