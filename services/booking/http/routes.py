"""The booking API's routes: each validates, calls the service, and shapes the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import AwareDatetime, BaseModel, Field

from services.booking.domain import StatusChange
from services.booking.errors import FieldError, InvalidBooking
from services.booking.http import openapi
from services.booking.http.auth import ClinicKeys, bearer, require_clinic
from services.booking.http.errors import Problem, ValidationErrors
from services.booking.service import BookingService
from services.booking.sources import webhook_actions
from services.booking.store.store import Recorded
from services.shared.erasure import ERASED
from services.shared.events import Booking, BookingEvent

router = APIRouter()
_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The clinic's API key (only when keys are configured).",
)


class Accepted(BaseModel):
    """A booking after the change, and the id of the event that records it."""

    booking: Booking
    event_id: str


class Reschedule(BaseModel):
    start: AwareDatetime
    duration_minutes: Annotated[int, Field(ge=5, le=600)] | None = None


class History(BaseModel):
    clinic_id: str
    booking_id: str
    events: list[BookingEvent]


def _service(request: Request) -> BookingService:
    service: BookingService = request.app.state.service
    return service


def _caller(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key)] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> str | None:
    keys: ClinicKeys = request.app.state.keys
    return keys.clinic_for(api_key or bearer(authorization))


Service = Annotated[BookingService, Depends(_service)]
Caller = Annotated[str | None, Depends(_caller)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat-safe: a retry returns the first result.",
    ),
]


def _clinic(
    booking_id: str,
    service: Service,
    caller: Caller,
    clinic_id: Annotated[
        str | None,
        Query(description="Needed only when the same booking id exists at several clinics."),
    ] = None,
    x_clinic_id: Annotated[str | None, Header()] = None,
) -> str:
    named = clinic_id or x_clinic_id or caller or service.clinic_of(booking_id)
    require_clinic(caller, named)
    return named


Clinic = Annotated[str, Depends(_clinic)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": Problem,
        "description": "The body is not JSON, or the booking id is held by several clinics.",
    },
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": ValidationErrors},
}


def _accepted(recorded: Recorded, response: Response) -> Accepted:
    if recorded.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Accepted(booking=recorded.booking, event_id=recorded.event.event_id)


@router.post(
    "/v1/bookings",
    status_code=201,
    response_model=Accepted,
    responses=ERRORS,
    openapi_extra=openapi.request_body(),
    tags=["bookings"],
)
def create_booking(
    payload: Annotated[Any, Body()],
    service: Service,
    caller: Caller,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    """Book an appointment; publishes ``booking.created``."""
    if not isinstance(payload, dict):
        raise InvalidBooking([FieldError("(body)", "must be a JSON object")])
    if isinstance(payload.get("clinic_id"), str):
        require_clinic(caller, payload["clinic_id"])
    elif caller is not None:
        payload = {**payload, "clinic_id": caller}
    return _accepted(service.create(payload, idempotency_key=idempotency_key), response)


STATUS_ROUTES = (
    ("cancel", StatusChange.CANCEL, "cancel_booking", "Cancel a booked appointment"),
    ("attended", StatusChange.ATTENDED, "mark_attended", "Record that the patient came"),
    ("no-show", StatusChange.NO_SHOW, "mark_no_show", "Record that the patient did not come"),
)
"""``POST /v1/bookings/{booking_id}/{path}`` for each status change: path, change, name, doc."""


def _status_route(change: StatusChange, name: str, doc: str) -> Callable[..., Accepted]:
    def handler(
        booking_id: str,
        clinic: Clinic,
        service: Service,
        response: Response,
        idempotency_key: IdemKey = None,
    ) -> Accepted:
        recorded = service.change_status(
            clinic, booking_id, change, idempotency_key=idempotency_key
        )
        return _accepted(recorded, response)

    handler.__name__ = name
    handler.__doc__ = f"{doc}; publishes ``booking.{change.status.value}``."
    return handler


for path, change, name, doc in STATUS_ROUTES:
    router.post(
        f"/v1/bookings/{{booking_id}}/{path}",
        response_model=Accepted,
        responses=ERRORS,
        tags=["bookings"],
    )(_status_route(change, name, doc))


@router.post(
    "/v1/bookings/{booking_id}/reschedule",
    response_model=Accepted,
    responses=ERRORS,
    tags=["bookings"],
)
def reschedule_booking(
    booking_id: str,
    body: Reschedule,
    clinic: Clinic,
    service: Service,
    response: Response,
    idempotency_key: IdemKey = None,
) -> Accepted:
    """Move a booked appointment to a new start; publishes ``booking.rescheduled``."""
    recorded = service.reschedule(
        clinic, booking_id, body.start, body.duration_minutes, idempotency_key=idempotency_key
    )
    return _accepted(recorded, response)


@router.get(
    "/v1/bookings/{booking_id}", response_model=Booking, responses=ERRORS, tags=["bookings"]
)
def get_booking(booking_id: str, clinic: Clinic, service: Service) -> Booking:
    """The booking as it stands now."""
    return service.get(clinic, booking_id)


@router.get(
    "/v1/bookings/{booking_id}/events", response_model=History, responses=ERRORS, tags=["bookings"]
)
def booking_events(booking_id: str, clinic: Clinic, service: Service) -> History:
    """Every event of the booking, oldest first."""
    return History(
        clinic_id=clinic, booking_id=booking_id, events=service.history(clinic, booking_id)
    )


class Erased(BaseModel):
    """What an erasure removed here, and what follows on the other services."""

    erasure_id: str
    clinic_id: str
    patient_hash: str = Field(description="keyed hash of the patient id, as the audit trail has it")
    erased_at: AwareDatetime
    erased: dict[str, int] = Field(description="rows deleted from the booking store, per table")
    followers: str = Field(
        description="what the reminders worker and the notifier erase when they read the event"
    )


FOLLOWERS = (
    "patient.erased is queued on the bookings topic: the reminders worker deletes the "
    "patient's plan (a tombstone in its changelog) and the notifier its ledger, consent, "
    "replies, inbound log, bookings seen and local sinks; each writes its counts to the "
    f"erasures topic. Reminders of the patient still on their way are dropped ({ERASED!r})."
)


@router.delete(
    "/v1/clinics/{clinic_id}/patients/{patient_id}",
    response_model=Erased,
    responses=ERRORS,
    tags=["patients"],
)
def erase_patient(clinic_id: str, patient_id: str, service: Service, caller: Caller) -> Erased:
    """Forget a patient: every booking of theirs at this clinic, its history, queued events,
    idempotency keys and callbacks; publishes ``patient.erased`` for the other services.

    Answers with the rows deleted per table; an audit record (who, which clinic, a keyed
    hash of the patient id, when, the counts) is kept, with no personal data in it.
    """
    require_clinic(caller, clinic_id)
    who = f"api key of {caller}" if caller else "api (no API keys configured)"
    erasure = service.erase_patient(clinic_id, patient_id, who)
    return Erased(
        erasure_id=erasure.event.erasure_id,
        clinic_id=clinic_id,
        patient_hash=erasure.record.patient_hash,
        erased_at=erasure.event.erased_at,
        erased=erasure.counts,
        followers=FOLLOWERS,
    )


class ClockNow(BaseModel):
    now: AwareDatetime
    scale: float


@router.get("/v1/clock", response_model=ClockNow, tags=["platform"])
def platform_clock(service: Service) -> ClockNow:
    """The platform's current time (UTC) and how fast it runs."""
    return ClockNow(now=service.clock.now(), scale=service.clock.scale)


@router.get("/healthz", tags=["platform"])
def health(request: Request, service: Service) -> JSONResponse:
    """200 when the store answers, with how many events wait to be published; 503 if not."""
    try:
        service.store.ping()
        backlog = int(request.app.state.backlog())
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok", "store": "ok", "outbox_backlog": backlog})


class WebhookResult(BaseModel):
    """What a clinic system's webhook became: our action, the booking, its event."""

    action: str
    booking: Booking
    event_id: str
    replayed: bool


@router.post(
    "/v1/webhooks/{clinic_id}", response_model=WebhookResult, responses=ERRORS, tags=["adapters"]
)
def clinic_webhook(
    clinic_id: str,
    payload: Annotated[Any, Body()],
    request: Request,
    service: Service,
    caller: Caller,
) -> WebhookResult:
    """A clinic system's own webhook JSON, read through the clinic's mapping file."""
    require_clinic(caller, clinic_id)
    mapping = request.app.state.webhooks.get(clinic_id)
    action, body = mapping.translate(payload, clinic_id)
    recorded = webhook_actions.apply(service, action, body)
    return WebhookResult(
        action=action,
        booking=recorded.booking,
        event_id=recorded.event.event_id,
        replayed=recorded.replayed,
    )
