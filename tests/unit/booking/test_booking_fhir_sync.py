"""A clinic's FHIR server followed over time: HL7's and vendors' appointments booked, moved,
cancelled, attended; paging, _include, the watermark, throttling, logins; bad input named."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from services.booking.service import BookingService
from services.booking.sources.fhir.client import FhirClient
from services.booking.sources.fhir.errors import FhirRefusedRequest, FhirUnavailable
from services.booking.sources.fhir.inbox import FhirInbox
from services.booking.sources.fhir.login import (
    BearerToken,
    ClientCredentials,
    ClientSecret,
    SignedAssertion,
)
from services.booking.sources.fhir.notifications import Notice
from services.booking.sources.fhir.rules import FhirRules, Treatment
from services.booking.sources.fhir.state import FhirState
from services.booking.sources.fhir.sync import FhirServer, FhirSync, _older, _version
from services.booking.sources.report import Outcome, SyncReport
from services.booking.store.store import BookingStore
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import ManualClock
from services.shared.events import BookingStatus
from tests.support.fhir_server import FhirServer as LocalFhir
from tests.support.fhir_server import fixture, running_fhir_server
from tests.unit.booking.conftest import NOW

CLINIC = "lakeside"
SCLEROTHERAPY = Treatment.parse("microsclerotherapy")
ELSEWHERE = "https://elsewhere.example/fhir/Patient/1"
"""A patient on another server: its address is not followed with the clinic's token."""


@pytest.fixture
def fhir() -> Iterator[LocalFhir]:
    with running_fhir_server() as server:
        yield server


@pytest.fixture
def service(store: BookingStore, clock: ManualClock) -> BookingService:
    clinics = ClinicDirectory({CLINIC: ClinicInfo(name="Lakeside Vein Clinic", country="US")})
    return BookingService(
        store, clock, "unit.clinic.bookings.v1", {"microsclerotherapy"}, clinics=clinics
    )


def rules(**changes: Any) -> FhirRules:
    given: dict[str, Any] = {
        "clinic_id": CLINIC,
        "codes": {"Sclerotherapy": SCLEROTHERAPY},
        "timezone": "America/Chicago",
    }
    return FhirRules(**{**given, **changes})


def sync(fhir: LocalFhir, service: BookingService, **changes: Any) -> FhirSync:
    """A fresh follower each time, as after a restart: all it knows is in the database."""
    client = FhirClient(fhir.base_url, changes.pop("login", None), sleep=lambda _: None)
    server = FhirServer(client, rules(**changes))
    return FhirSync(server, service, FhirState(service.store.engine))


def appointment(name: str, start: datetime, minutes: int = 30, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(fixture(name))
    body["start"] = start.isoformat()
    body["end"] = (start + timedelta(minutes=minutes)).isoformat()
    if "minutesDuration" in body:
        body["minutesDuration"] = minutes
    body.update(changes)
    return body


def outcomes(report: SyncReport) -> dict[str, tuple[Outcome, str]]:
    return {r.uid: (r.outcome, r.reason) for r in report.results}


@pytest.fixture
def epic(fhir: LocalFhir, clock: ManualClock) -> dict[str, Any]:
    fhir.put(fixture("patient-epic"))
    return fhir.put(appointment("appointment-epic", clock.now() + timedelta(days=10)))


def test_an_epic_appointment_becomes_the_clinic_s_booking_under_its_own_id(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any], clock: ManualClock
) -> None:
    report = sync(fhir, service).run_once()

    assert outcomes(report) == {f"Appointment/{epic['id']}": (Outcome.CREATED, "")}
    booking = service.get(CLINIC, epic["id"])
    assert booking.patient.id == "erXuFYUfucBZaryVksYEcMg3"
    assert booking.patient.first_name == "Camila"
    assert booking.patient.phone == "+14698888888"  # the mobile, not the home phone
    assert booking.patient.email == "knixontestemail@epic.com"
    assert booking.patient.locale == "en"
    assert booking.patient.timezone == "America/Chicago"  # the clinic's: never the offset
    assert booking.treatment == "microsclerotherapy" and booking.duration_minutes == 30
    assert booking.start == clock.now() + timedelta(days=10)
    assert "left entrance" not in booking.model_dump_json()  # the clinic's own comment


def test_the_next_pass_asks_since_the_watermark_and_takes_each_version_once(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any], clock: ManualClock
) -> None:
    follower = sync(fhir, service)
    follower.run_once()
    again = follower.run_once()  # the overlap brings it back: same version
    assert outcomes(again) == {f"Appointment/{epic['id']}": (Outcome.UNCHANGED, "")}
    assert "_lastUpdated=ge" in fhir.searches()[-1] and "date=" not in fhir.searches()[-1]

    moved = clock.now() + timedelta(days=12)
    fhir.put(
        {**epic, "start": moved.isoformat(), "end": (moved + timedelta(minutes=30)).isoformat()}
    )
    report = follower.run_once()
    assert outcomes(report)[f"Appointment/{epic['id']}"][0] is Outcome.RESCHEDULED
    assert service.get(CLINIC, epic["id"]).start == moved

    fhir.put({**fhir.resources[("Appointment", epic["id"])], "status": "cancelled"})
    report = follower.run_once()
    assert outcomes(report)[f"Appointment/{epic['id']}"][0] is Outcome.CANCELLED
    assert service.get(CLINIC, epic["id"]).status is BookingStatus.CANCELLED


@pytest.mark.parametrize(
    ("status", "outcome", "booking_status"),
    [
        ("fulfilled", Outcome.ATTENDED, BookingStatus.ATTENDED),
        ("arrived", Outcome.ATTENDED, BookingStatus.ATTENDED),
        ("checked-in", Outcome.ATTENDED, BookingStatus.ATTENDED),
        ("noshow", Outcome.NO_SHOW, BookingStatus.NO_SHOW),
        ("entered-in-error", Outcome.CANCELLED, BookingStatus.CANCELLED),
        ("waitlist", Outcome.CANCELLED, BookingStatus.CANCELLED),
    ],
)
def test_each_status_does_what_the_table_says(
    fhir: LocalFhir,
    service: BookingService,
    epic: dict[str, Any],
    clock: ManualClock,
    status: str,
    outcome: Outcome,
    booking_status: BookingStatus,
) -> None:
    sync(fhir, service).run_once()
    clock.advance(timedelta(days=10, minutes=20))
    fhir.put({**fhir.resources[("Appointment", epic["id"])], "status": status})
    report = sync(fhir, service).run_once()
    assert outcomes(report)[f"Appointment/{epic['id']}"][0] is outcome
    assert service.get(CLINIC, epic["id"]).status is booking_status


def test_a_proposed_appointment_is_not_reminded(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    fhir.put(fixture("patient-epic"))
    proposed = fhir.put(
        appointment("appointment-epic", clock.now() + timedelta(days=3), status="proposed")
    )
    [result] = sync(fhir, service).run_once().results
    assert result.outcome is Outcome.IGNORED and "proposed" in result.reason
    assert service.store.get(CLINIC, proposed["id"]) is None


def test_hl7_s_example_patient_is_texted_at_the_mobile_never_the_old_number(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    fhir.put(fixture("patient-example"))
    fhir.put(appointment("appointment-example", clock.now() + timedelta(days=5), minutes=120))
    clinics = ClinicDirectory({CLINIC: ClinicInfo(name="Acme", country="AU")})
    service.clinics = clinics
    report = sync(fhir, service, default=SCLEROTHERAPY, timezone="Australia/Melbourne").run_once()

    assert outcomes(report) == {"Appointment/example": (Outcome.CREATED, "")}
    patient = service.get(CLINIC, "example").patient
    assert patient.phone == "+61334105613" and patient.first_name == "Jim"  # the usual name
    assert patient.timezone == "Australia/Melbourne"


def test_cerner_s_ended_phone_is_passed_over_and_a_string_rank_is_read(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    fhir.put(fixture("patient-cerner"))
    fhir.put(appointment("appointment-cerner", clock.now() + timedelta(days=4), minutes=20))
    code_set = "https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/14249"
    codes = {f"{code_set}|4047611": SCLEROTHERAPY}
    report = sync(fhir, service, codes=codes).run_once()
    assert outcomes(report) == {"Appointment/4817517": (Outcome.CREATED, "")}
    booking = service.get(CLINIC, "4817517")
    assert booking.patient.phone == "+18168313333" and booking.patient.locale == "en-US"


def test_patients_are_read_one_by_one_from_a_server_that_ignores_include(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    fhir.honours_include = False
    report = sync(fhir, service).run_once()
    assert report.count(Outcome.CREATED) == 1
    assert any("/Patient/erXuFYUfucBZaryVksYEcMg3" in r for r in fhir.requests)


def test_every_page_is_followed_by_its_own_opaque_link(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    fhir.put(fixture("patient-epic"))
    for n in range(230):
        fhir.put(
            appointment(
                "appointment-epic", clock.now() + timedelta(days=2, minutes=n), id=f"appt-{n}"
            )
        )
    report = sync(fhir, service).run_once()
    assert report.count(Outcome.CREATED) == 230
    pages = [r for r in fhir.requests if "_getpages=" in r]
    assert len(pages) == 2 and all("_bundletype=searchset" in r for r in pages)


def test_429_and_503_are_waited_out_as_retry_after_says(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    fhir.throttle(2, 429, "1")
    assert sync(fhir, service).run_once().count(Outcome.CREATED) == 1

    fhir.throttle(5, 503, "2")
    with pytest.raises(FhirUnavailable, match="HTTP 503"):
        sync(fhir, service).run_once()


def test_a_bearer_token_or_client_credentials_log_in(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    fhir.token = "t0ken-of-the-clinic"
    with pytest.raises(FhirRefusedRequest, match="401"):
        sync(fhir, service).run_once()
    assert sync(fhir, service, login=BearerToken("t0ken-of-the-clinic")).run_once().results

    fhir.client = ("reminders", "s3cret-of-the-clinic")
    token_url = f"http://127.0.0.1:{fhir.port}/oauth/token"
    login = ClientCredentials(token_url, "reminders", ClientSecret("s3cret-of-the-clinic"))
    follower = sync(fhir, service, login=login)
    follower.run_once()
    follower.run_once()
    assert fhir.tokens_issued == 1  # reused until it nears its end


@pytest.mark.parametrize(
    "key",
    [rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())],
    ids=["RS384", "ES384"],
)
def test_smart_backend_services_sign_their_client_assertion(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any], key: Any
) -> None:
    fhir.token, fhir.client = "t0ken-of-the-clinic", ("reminders", "")
    fhir.public_key = key.public_key()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    token_url = f"http://127.0.0.1:{fhir.port}/oauth/token"
    login = ClientCredentials(token_url, "reminders", SignedAssertion(pem, "key-1"))
    assert sync(fhir, service, login=login).run_once().count(Outcome.CREATED) == 1

    if isinstance(key, rsa.RSAPrivateKey):
        stranger: Any = rsa.generate_private_key(65537, 2048)
    else:
        stranger = ec.generate_private_key(ec.SECP384R1())
    wrong = stranger.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    login = ClientCredentials(token_url, "reminders", SignedAssertion(wrong, "key-1"))
    with pytest.raises(FhirRefusedRequest, match="token endpoint answered HTTP 401"):
        sync(fhir, service, login=login).run_once()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"start": "next tuesday"}, "Appointment.start"),
        ({"status": "booked", "end": None, "minutesDuration": None}, "app-2"),
        ({"start": None, "end": None, "minutesDuration": None}, "app-3"),
        ({"cancelationReason": {"text": "patient called"}}, "app-4"),
        ({"status": "rescheduled"}, "Appointment.status"),
        (
            {"participant": [{"actor": {"reference": "Practitioner/x"}, "status": "accepted"}]},
            "no Patient",
        ),
        (
            {
                "participant": [
                    {
                        "actor": {"reference": "Patient/erXuFYUfucBZaryVksYEcMg3"},
                        "status": "declined",
                    }
                ]
            },
            "declined",
        ),
        ({"serviceType": [{"text": "Varicose vein consult"}]}, "Varicose vein consult"),
        (
            {"participant": [{"actor": {"reference": "Patient/nobody"}, "status": "accepted"}]},
            "not on the server",
        ),
        (
            {"participant": [{"actor": {"reference": ELSEWHERE}, "status": "accepted"}]},
            "is on another server; not read",
        ),
    ],
)
def test_a_bad_appointment_is_refused_with_the_field_named_and_the_rest_go_on(
    fhir: LocalFhir,
    service: BookingService,
    clock: ManualClock,
    change: dict[str, Any],
    reason: str,
) -> None:
    fhir.put(fixture("patient-epic"))
    follower = sync(fhir, service)
    follower.run_once()  # the first pass: the watermark is set
    good = fhir.put(appointment("appointment-epic", clock.now() + timedelta(days=2), id="good"))
    bad = appointment("appointment-epic", clock.now() + timedelta(days=3), id="bad")
    bad.update(change)
    fhir.put({k: v for k, v in bad.items() if v is not None})

    report = follower.run_once()  # by _lastUpdated: a start no date search finds is seen
    results = outcomes(report)
    assert results[f"Appointment/{good['id']}"][0] is Outcome.CREATED
    outcome, why = results["Appointment/bad"]
    assert outcome is Outcome.REJECTED and reason in why, why
    assert service.store.get(CLINIC, "bad") is None


def test_a_refused_appointment_is_taken_once_the_clinic_fixes_its_map(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    [refused] = sync(fhir, service, codes={}).run_once().results
    assert refused.outcome is Outcome.REJECTED and "Sclerotherapy" in refused.reason
    report = sync(fhir, service, codes={}, default=SCLEROTHERAPY).run_once(full=True)
    assert report.count(Outcome.CREATED) == 1


def test_the_watermark_is_the_server_s_clock_and_a_restart_reads_the_window_again(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    sync(fhir, service).run_once()
    stamp = datetime.fromisoformat(epic["meta"]["lastUpdated"])
    kept = FhirState(service.store.engine).watermark(sync(fhir, service).name)
    assert kept == stamp.astimezone(UTC)

    restarted = sync(fhir, service)
    assert outcomes(restarted.run_once()) == {f"Appointment/{epic['id']}": (Outcome.UNCHANGED, "")}
    assert "date=ge" in fhir.searches()[-1]  # a start reconciles the whole window


def test_a_contained_patient_is_read_from_the_appointment_itself(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    patient = {**fixture("patient-epic"), "id": "p1", "identifier": [{"value": "MRN-77"}]}
    practitioner = {"resourceType": "Practitioner", "id": "dr"}
    booked = appointment(
        "appointment-epic",
        clock.now() + timedelta(days=3),
        contained=[practitioner, patient],
        participant=[
            {"actor": {"reference": "#dr"}, "status": "accepted"},
            {"actor": {"reference": "#p1"}, "status": "accepted"},
        ],
    )
    fhir.put(booked)
    assert sync(fhir, service).run_once().count(Outcome.CREATED) == 1
    assert service.get(CLINIC, booked["id"]).patient.id == "contained.MRN-77"


def test_a_phone_whose_period_ended_in_a_year_or_month_is_passed_over(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    telecom = [
        {"system": "phone", "value": "469-555-0101", "use": "mobile", "period": {"end": "2024"}},
        {"system": "phone", "value": "469-555-0102", "use": "mobile", "period": {"end": "2031-05"}},
    ]
    fhir.put({**fixture("patient-epic"), "telecom": telecom})
    fhir.put(appointment("appointment-epic", clock.now() + timedelta(days=3)))
    assert sync(fhir, service).run_once().count(Outcome.CREATED) == 1
    assert service.get(CLINIC, fixture("appointment-epic")["id"]).patient.phone == "+14695550102"


def test_the_location_s_timezone_extension_is_the_patient_s_zone_unless_it_is_out_of_reach(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    fhir.put(fixture("patient-epic"))
    booked = fhir.put(appointment("appointment-epic", clock.now() + timedelta(days=3)))
    location = booked["participant"][2]["actor"]["reference"].split("/")[1]
    zone = {
        "url": "http://hl7.org/fhir/StructureDefinition/timezone",
        "valueCode": "America/Denver",
    }
    fhir.put({"resourceType": "Location", "id": location, "extension": [zone]})
    fhir.put({"resourceType": "Practitioner", "id": "eM5CWtq15N0WJeuCet5bJlQ3"})
    sync(fhir, service).run_once()
    assert service.get(CLINIC, booked["id"]).patient.timezone == "America/Denver"

    fhir.forbidden.add(f"Location/{location}")
    moved = clock.now() + timedelta(days=4)
    fhir.put(
        {**booked, "start": moved.isoformat(), "end": (moved + timedelta(minutes=30)).isoformat()}
    )
    report = sync(fhir, service).run_once()
    assert report.count(Outcome.RESCHEDULED) == 1, report  # the zone is the clinic's, not a refusal


def test_entered_in_error_with_a_cancelation_reason_still_cancels(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    follower = sync(fhir, service)
    follower.run_once()
    fhir.put({**epic, "status": "entered-in-error", "cancelationReason": {"text": "wrong patient"}})
    assert follower.run_once().count(Outcome.CANCELLED) == 1


def test_a_resource_dated_ahead_of_its_server_does_not_pin_the_watermark(
    fhir: LocalFhir, service: BookingService, clock: ManualClock
) -> None:
    fhir.put(fixture("patient-epic"))
    ahead = datetime.now(UTC) + timedelta(days=2)
    fhir.put(appointment("appointment-epic", clock.now() + timedelta(days=3)), at=ahead)
    follower = sync(fhir, service)
    follower.run_once()
    kept = FhirState(service.store.engine).watermark(follower.name)
    assert kept is not None and kept < ahead - timedelta(days=1)


def test_versions_without_meta_are_told_apart_by_content_and_an_older_one_is_left() -> None:
    first = {"resourceType": "Appointment", "id": "a", "status": "booked"}
    assert _version(first) == _version(dict(first))
    assert _version(first) != _version({**first, "status": "cancelled"})
    assert _older("2", "10") and not _older("10", "2") and not _older("sha256:ab", "3")


def test_a_pushed_appointment_the_server_deleted_cancels_and_one_it_forbids_is_refused(
    fhir: LocalFhir, service: BookingService, epic: dict[str, Any]
) -> None:
    inbox = FhirInbox(service.store.engine)
    client = FhirClient(fhir.base_url, sleep=lambda _: None)
    follower = FhirSync(
        FhirServer(client, rules()), service, FhirState(service.store.engine), inbox=inbox
    )
    follower.run_once()
    del fhir.resources[("Appointment", epic["id"])]
    fhir.forbidden.add("Appointment/secret")
    inbox.put(CLINIC, Notice(references=[f"Appointment/{epic['id']}", "Appointment/secret"]), NOW)
    deleted, forbidden = follower.run_once().results[:2]
    assert (deleted.outcome, deleted.reason) == (Outcome.CANCELLED, "deleted on the server")
    assert forbidden.outcome is Outcome.REJECTED and "HTTP 403" in forbidden.reason
    assert inbox.count() == 0
    assert service.get(CLINIC, epic["id"]).status is BookingStatus.CANCELLED
