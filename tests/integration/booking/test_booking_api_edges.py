"""Regressions from the schemathesis run: inputs that once made the booking API answer 500
or an undocumented status. Run on SQLite and PostgreSQL, since PostgreSQL refuses NULs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock

pytestmark = pytest.mark.integration


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    store = BookingStore(database_url)
    settings = BookingSettings(var_dir=tmp_path, topic_prefix="edge.")
    app = create_app(settings, store, ManualClock(datetime(2026, 11, 1, 9, tzinfo=UTC)))
    yield TestClient(app, raise_server_exceptions=False)
    store.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/bookings/0/cancel?clinic_id=%00"),
        ("post", "/v1/bookings/0/attended?clinic_id=a%00b"),
        ("get", "/v1/bookings/bk%00/events?clinic_id=dr-jenny"),
        ("get", "/v1/bookings/bk%00"),
    ],
)
def test_an_id_with_a_nul_is_not_found_rather_than_a_server_error(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path)

    assert response.status_code == 404, response.text


def test_a_reschedule_of_an_impossible_id_is_not_found(client: TestClient) -> None:
    response = client.post(
        "/v1/bookings/a%00/reschedule?clinic_id=dr-jenny",
        json={"start": "2026-12-01T10:00:00Z"},
        headers={"Idempotency-Key": "k-1"},
    )

    assert response.status_code == 404, response.text


@pytest.mark.parametrize("key", [b"caf\xe9", b"k\x01ey"])
def test_an_idempotency_key_that_is_not_printable_ascii_is_named_in_a_422(
    client: TestClient, key: bytes
) -> None:
    response = client.post(
        "/v1/bookings", json={"clinic_id": "dr-jenny"}, headers={"Idempotency-Key": key}
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_body_that_is_not_json_is_a_documented_400(client: TestClient) -> None:
    response = client.post(
        "/v1/bookings", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )

    documented = client.get("/openapi.json").json()["paths"]["/v1/bookings"]["post"]
    assert response.status_code == 400
    assert "400" in documented["responses"]
