"""Dead letters: listed from the dead-letter topics, and replayed to where they came from.

A dead letter is named by where it sits: ``bookings:2:15`` is offset 15 of
partition 2 of the bookings dead-letter topic. A replay publishes the original
payload, with its original key, back to its original topic; the dead letter
stays where it is (the topic is append-only), so nothing is lost, and a record
that fails again is dead-lettered again with its new reason.

The replayed record carries the dead letter's id in a header: the notifier
tries a failed delivery again once per dead letter replayed, never twice.

The dead-letter topics are append-only: a letter about a patient since erased
stays on the broker until its retention removes it. Every view leaves such a
letter out (the erasure records on ``clinic.erasures.v1`` say who was erased,
by keyed hash, and when), so it can be neither shown nor replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.ops.kafka_io import read_all
from services.ops.records import Record
from services.shared.erasure import ErasedPatients
from services.shared.events import REPLAY_HEADER, DeadLetter, InvalidEvent, decode
from services.shared.kafka_access import KafkaAccess
from services.shared.topics import Topics

QUEUES = ("bookings", "notifications")


class NotReplayable(ValueError):
    """A dead letter that cannot be replayed (undecodable, or refused by the broker)."""


@dataclass(frozen=True)
class Letter:
    """One record of a dead-letter topic: the dead letter, or why it is not one."""

    id: str
    record: Record
    letter: DeadLetter | None
    error: str | None = None


def queue_topic(queue: str, topics: Topics) -> str:
    """The dead-letter topic of ``bookings`` or ``notifications``."""
    if queue not in QUEUES:
        raise ValueError(f"--topic must be one of {', '.join(QUEUES)}, got {queue!r}")
    return topics.bookings_dlq if queue == "bookings" else topics.notifications_dlq


def list_letters(
    kafka: KafkaAccess | str,
    topics: Topics,
    queues: Iterable[str] = QUEUES,
    erased: ErasedPatients | None = None,
) -> list[Letter]:
    """Every dead letter now on the chosen queues, oldest first within each partition,
    less those about a patient ``erased`` since (see :func:`names_erased`).

    Blocks while reading each topic to its end; raises ``BrokerUnavailable``.
    """
    letters: list[Letter] = []
    for queue in queues:
        for record in read_all(kafka, queue_topic(queue, topics)):
            letter = _letter(f"{queue}:{record.partition}:{record.offset}", record)
            if erased is None or not names_erased(letter, erased):
                letters.append(letter)
    return letters


def names_erased(letter: Letter, erased: ErasedPatients) -> bool:
    """True when the letter's key or payload names a patient erased after it was written."""
    dead = letter.letter
    when = dead.occurred_at if dead else letter.record.timestamp
    keys = [dead.key if dead else letter.record.key_text]
    if dead is not None:
        keys.append(_patient_of(dead.payload))
    for key in keys:
        clinic, colon, patient = (key or "").partition(":")
        if colon and erased.covers(clinic, patient, when):
            return True
    return False


def _patient_of(payload: str) -> str | None:
    """``clinic:patient`` of a booking event, due reminder or erasure carried in a payload."""
    try:
        body: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    holder: dict[str, Any] = data if isinstance(data, dict) else body
    patient = holder.get("patient")
    patient_id = patient.get("id") if isinstance(patient, dict) else body.get("patient_id")
    clinic_id = holder.get("clinic_id")
    if isinstance(clinic_id, str) and isinstance(patient_id, str):
        return f"{clinic_id}:{patient_id}"
    return None


def _letter(letter_id: str, record: Record) -> Letter:
    try:
        return Letter(letter_id, record, decode(DeadLetter, record.value or b""))
    except InvalidEvent as exc:
        return Letter(letter_id, record, None, f"not a dead letter: {exc}")


def find(letters: Iterable[Letter], letter_id: str) -> Letter:
    """The letter named ``letter_id``; ``LookupError`` naming it when there is none."""
    for letter in letters:
        if letter.id == letter_id:
            return letter
    raise LookupError(f"no dead letter {letter_id!r} (ids look like bookings:2:15; see dlq list)")


def matching(letters: Iterable[Letter], reason: str | None) -> list[Letter]:
    """The decodable letters whose reason contains ``reason`` (all when None)."""
    needle = (reason or "").lower()
    return [lt for lt in letters if lt.letter and needle in lt.letter.reason.lower()]


@dataclass(frozen=True)
class Replayed:
    """Where a replayed record landed."""

    letter_id: str
    topic: str
    partition: int
    offset: int


def replay(producer: KafkaProducer, letter: Letter, timeout: float = 10.0) -> Replayed:
    """Publish ``letter``'s original payload and key to its original topic.

    Blocks until the broker acknowledges; ``NotReplayable`` when the letter is
    undecodable or the broker refuses the record.
    """
    if letter.letter is None:
        raise NotReplayable(f"{letter.id} cannot be replayed: {letter.error}")
    dead = letter.letter
    key = dead.key.encode() if dead.key is not None else None
    try:
        headers = [(REPLAY_HEADER, letter.id.encode())]
        sent = producer.send(dead.topic, key=key, value=dead.payload.encode(), headers=headers)
        meta = sent.get(timeout)
    except KafkaError as exc:
        raise NotReplayable(f"{letter.id} was not replayed to {dead.topic}: {exc}") from exc
    return Replayed(letter.id, meta.topic, meta.partition, meta.offset)
