"""The consent registry holds email addresses beside phone numbers, on SQLite and PostgreSQL,
including in a registry made before it did."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from services.notifier.patients.registry import ConsentRegistry
from services.shared.events import Channel, ConsentChanged

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_a_registry_made_before_email_opt_outs_keeps_its_stops_and_takes_addresses(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE notifier_consent (phone VARCHAR(20) NOT NULL, "
                "clinic_id VARCHAR(128) NOT NULL, channel VARCHAR(16) NOT NULL, "
                "granted BOOLEAN NOT NULL, source VARCHAR(64) NOT NULL, keyword VARCHAR(32), "
                "changed_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                "PRIMARY KEY (phone, clinic_id, channel))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO notifier_consent VALUES "
                "('+447700900123', 'dr-jenny', 'sms', false, 'sms-keyword', 'STOP', :at)"
            ),
            {"at": NOW},
        )
    engine.dispose()
    registry = ConsentRegistry(database_url)
    long_address = "jane.with.an.address.longer.than.twenty@example.com"
    registry.record(
        ConsentChanged(
            clinic_id="dr-jenny",
            email=long_address,
            channel=Channel.EMAIL,
            granted=False,
            source="email-unsubscribe",
            occurred_at=NOW,
        )
    )
    registry.close()
    reopened = ConsentRegistry(database_url)  # the change is made once
    stop = reopened.opted_out("+447700900123", "dr-jenny", Channel.SMS)
    email = reopened.opted_out(long_address.upper(), "dr-jenny", Channel.EMAIL)
    sms = reopened.opted_out(long_address, "dr-jenny", Channel.SMS)
    reopened.close()
    assert stop is not None and (stop.keyword, stop.changed_at) == ("STOP", NOW)
    assert email is not None and email.address == long_address and sms is None
