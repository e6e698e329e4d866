"""``clinic-reminders fhir check BASE_URL`` and ``fhir sync BASE_URL --clinic ID --once``,
as a clinic's IT person runs them against their server."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.booking.settings import BookingSettings
from services.booking.sources.report import EventResult, Outcome, SyncReport
from services.booking.store.store import BookingStore
from services.cli import main
from services.cli.sources.reports import _news
from tests.support.fhir_server import FhirServer, fixture, running_fhir_server

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MAP = ["--map", "Sclerotherapy=microsclerotherapy", "--timezone", "America/Chicago"]
DISCUSSION = [{"coding": [{"code": "52", "display": "General Discussion"}]}]
"""HL7's example appointment's service type, which the clinic's map does not name."""


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLINIC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CLINIC_CLOCK_START", NOW.isoformat())
    monkeypatch.delenv("CLINIC_BOOKING_DATABASE_URL", raising=False)
    clinics = tmp_path / "clinics.yaml"
    clinics.write_text("lakeside:\n  name: Lakeside Vein Clinic\n  country: US\n")
    monkeypatch.setenv("CLINIC_CLINICS_FILE", str(clinics))
    monkeypatch.setenv("COLUMNS", "240")  # each reason on one line of the table
    return tmp_path


@pytest.fixture
def fhir() -> Iterator[FhirServer]:
    with running_fhir_server() as server:
        server.put(fixture("patient-epic"))
        for days, changes in ((3, {}), (4, {"id": "example", "serviceType": DISCUSSION})):
            appointment = copy.deepcopy(fixture("appointment-epic"))
            appointment["start"] = (NOW + timedelta(days=days)).isoformat()
            appointment["end"] = (NOW + timedelta(days=days, minutes=30)).isoformat()
            appointment.pop("minutesDuration", None)
            server.put({**appointment, **changes})
        yield server


def test_check_says_what_the_server_supports_and_what_it_would_take_and_refuse(
    fhir: FhirServer, environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fhir", "check", fhir.base_url, "--clinic", "lakeside", *MAP]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "FHIR 4.0.1" in out and "_include=Appointment:patient: yes" in out
    assert "subscriptions: rest-hook no" in out
    assert "1 would be reminded, 1 refused" in out
    assert "no treatment for 52 'General Discussion'" in out
    assert BookingStore(BookingSettings().database_url).get("lakeside", "example") is None


def test_sync_once_books_prints_each_appointment_and_exits_1_for_a_refusal(
    fhir: FhirServer, environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fhir", "sync", fhir.base_url, "--clinic", "lakeside", "--once", *MAP]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "1 created, 1 rejected" in out
    store = BookingStore(BookingSettings().database_url)
    assert store.get("lakeside", "eWLhfjXHp4RUczv5b0aNb7g3") is not None

    with_default = [*MAP, "--treatment", "microsclerotherapy/consultation"]
    assert (
        main(["fhir", "sync", fhir.base_url, "--clinic", "lakeside", "--once", *with_default]) == 0
    )
    out = " ".join(capsys.readouterr().out.split())
    assert "1 created, 1 unchanged" in out
    discussion = store.get("lakeside", "example")
    assert discussion is not None and discussion.kind == "consultation"


def test_a_token_file_logs_in_and_a_wrong_one_is_refused_by_the_server(
    fhir: FhirServer, environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fhir.token = "clinic-issued-token"
    token = environment / "token"
    token.write_text("clinic-issued-token\n")
    argv = ["fhir", "sync", fhir.base_url, "--clinic", "lakeside", "--once", *MAP]
    assert main([*argv, "--token-file", str(token)]) == 1  # one refused appointment
    token.write_text("someone-else")
    assert main([*argv, "--token-file", str(token)]) == 3
    assert "HTTP 401" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--consent", "fax"], "consent 'fax'"),
        (["--treatment", "x/surgery"], "kind after '/'"),
        (["--map", "nothing"], "--map 'nothing'"),
        (["--timezone", "Mars/Olympus"], "not an IANA time zone"),
        (["--token-url", "http://127.0.0.1:1/token"], "OAuth2 needs token_url, client_id"),
    ],
)
def test_arguments_that_cannot_be_used_exit_2_naming_them(
    fhir: FhirServer,
    environment: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    said: str,
) -> None:
    assert main(["fhir", "sync", fhir.base_url, "--clinic", "lakeside", "--once", *extra]) == 2
    assert said in " ".join(capsys.readouterr().out.split())


def test_a_server_only_reached_by_plain_http_elsewhere_is_refused(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fhir", "check", "http://ehr.example.org/fhir/R4"]) == 2
    assert "only https" in capsys.readouterr().out


def test_a_poll_prints_each_refusal_once_and_what_changed() -> None:
    refused = EventResult("Appointment/a", Outcome.REJECTED, "a", "Patient.name: no given name")
    same = EventResult("Appointment/b", Outcome.UNCHANGED, "b")
    shown: set[tuple[str, str]] = set()
    assert _news(SyncReport((refused, same)), shown) == [refused]
    assert _news(SyncReport((refused, same)), shown) == []
    moved = EventResult("Appointment/b", Outcome.RESCHEDULED, "b")
    assert _news(SyncReport((refused, moved)), shown) == [moved]
