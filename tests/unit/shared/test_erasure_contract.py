"""The erasure's shared contract: the event on the bookings topic, the keyed hashes, and
which of an erased patient's things are dropped (made before the erasure) or kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.shared.erasure import (
    ErasedPatients,
    ErasureKeys,
    PatientErased,
    decode_booking_topic,
    erasure_keys,
)
from services.shared.events import InvalidEvent, encode
from services.shared.settings import PlatformSettings
from tests.unit.reminders.factories import booking, event

AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
KEYS = ErasureKeys(b"k" * 32)


def test_the_bookings_topic_carries_booking_events_and_erasures() -> None:
    erased = PatientErased(clinic_id="dr-jenny", patient_id="p-42", erased_at=AT)
    made = event(booking())

    assert decode_booking_topic(encode(erased)) == erased
    assert decode_booking_topic(encode(made)) == made
    assert erased.key == made.key == "dr-jenny:p-42"
    with pytest.raises(InvalidEvent, match="patient_id"):
        decode_booking_topic(b'{"type": "patient.erased", "clinic_id": "c", "erased_at": "x"}')
    with pytest.raises(InvalidEvent, match="data"):
        decode_booking_topic(b'{"type": "booking.created"}')


def test_hashes_are_keyed_and_keep_their_uses_apart() -> None:
    other = ErasureKeys(b"o" * 32)

    assert KEYS.patient("c", "p") == KEYS.patient("c", "p") != other.patient("c", "p")
    assert KEYS.patient("c", "p:x") != KEYS.patient("c:p", "x")
    assert KEYS.value("sender", "+447700900123") != KEYS.address("+447700900123")[5:]
    assert KEYS.address("+447700900123").startswith("hmac:")


def test_without_a_secret_every_process_of_one_var_dir_shares_one_kept_key(
    tmp_path: Path,
) -> None:
    first = PlatformSettings(var_dir=tmp_path).erasure_keys.patient("c", "p")

    assert PlatformSettings(var_dir=tmp_path).erasure_keys.patient("c", "p") == first
    assert (tmp_path / "erasure.key").stat().st_mode & 0o777 == 0o600
    shared = erasure_keys(SecretStr("a shared secret, 16+"), tmp_path)
    assert shared.patient("c", "p") != first
    with pytest.raises(ValueError, match="at least 16"):
        PlatformSettings(var_dir=tmp_path, erasure_secret=SecretStr("short"))


def test_what_was_made_before_the_erasure_is_covered_and_what_came_after_is_not() -> None:
    erased = ErasedPatients(KEYS, [("dr-jenny", KEYS.patient("dr-jenny", "p-42"), AT)])

    assert erased.covers("dr-jenny", "p-42", AT - timedelta(days=3))
    assert erased.covers("dr-jenny", "p-42", AT)
    assert erased.covers("dr-jenny", "p-42", None)
    assert not erased.covers("dr-jenny", "p-42", AT + timedelta(seconds=1))  # came back
    assert not erased.covers("other", "p-42", AT - timedelta(days=3))
    erased.add("dr-jenny", KEYS.patient("dr-jenny", "p-42"), AT - timedelta(days=9))
    assert erased.erased_at("dr-jenny", "p-42") == AT


def test_an_erased_patients_booking_stays_erased_whenever_its_reminder_was_made() -> None:
    erased = ErasedPatients(KEYS)
    assert not erased.booking_erased("dr-jenny", "bk-1")

    erased.add_bookings([erased.booking_hash("dr-jenny", "bk-1")])

    assert erased.booking_erased("dr-jenny", "bk-1")
    assert not erased.booking_erased("other", "bk-1")
    assert not erased.booking_erased("dr-jenny", "bk-2")
