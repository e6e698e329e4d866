"""``/v1/fhir/{clinic_id}``: where a clinic's FHIR server pushes its appointment changes
(R4 rest-hook, with or without a payload; R4B/R5 and backport notification Bundles).

A push is read, kept in the booking database and answered 202 at once; the FHIR
follower takes it within a second (:class:`services.booking.sources.fhir.sync.FhirSync`),
and its polling goes on behind it, since servers give up retrying within minutes.
Authenticated per clinic: the clinic's API key in ``X-API-Key`` or ``Authorization:
Bearer`` (a Subscription's ``channel.header``), or ``X-Signature: sha256=<hex>``, the
HMAC-SHA256 of the body under that key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.booking.errors import FieldError, InvalidBooking, NotAuthorised, NotFollowed
from services.booking.http.auth import ClinicKeys, bearer, require_clinic
from services.booking.http.errors import Problem, ValidationErrors
from services.booking.sources.fhir.notifications import BadNotice, read_notice

router = APIRouter(tags=["adapters"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No key, a wrong key, or a wrong X-Signature."},
    403: {"model": Problem, "description": "Another clinic's key."},
    404: {"model": Problem, "description": "No FHIR server is followed for this clinic."},
    422: {"model": ValidationErrors, "description": "The push cannot be read; names the field."},
}
BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.post("/v1/fhir/{clinic_id}", status_code=202, responses=RESPONSES, openapi_extra=BODY)
async def fhir_notification(
    clinic_id: str,
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
    x_signature: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """An empty POST ("look again"), an Appointment, or a notification Bundle."""
    return await _accept(request, clinic_id, None, x_api_key or bearer(authorization), x_signature)


@router.put(
    "/v1/fhir/{clinic_id}/Appointment/{appointment_id}",
    status_code=202,
    responses=RESPONSES,
    openapi_extra=BODY,
)
@router.post(
    "/v1/fhir/{clinic_id}/Appointment/{appointment_id}",
    status_code=202,
    responses=RESPONSES,
    openapi_extra=BODY,
)
async def fhir_appointment(
    clinic_id: str,
    appointment_id: str,
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
    x_signature: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """R4's rest-hook with a payload: the appointment, at its own address."""
    key = x_api_key or bearer(authorization)
    return await _accept(request, clinic_id, appointment_id, key, x_signature)


async def _accept(
    request: Request,
    clinic_id: str,
    appointment_id: str | None,
    key: str | None,
    signature: str | None,
) -> JSONResponse:
    body = await request.body()
    keys: ClinicKeys = request.app.state.keys
    if signature is not None and keys.enabled:
        if not keys.signed(clinic_id, body, signature):
            raise NotAuthorised("X-Signature is not the body's HMAC-SHA256 under this clinic's key")
    else:
        require_clinic(keys.clinic_for(key), clinic_id)
    inbox = request.app.state.fhir_inbox
    if clinic_id not in request.app.state.fhir_clinics or inbox is None:
        raise NotFollowed(f"no FHIR server is followed for clinic {clinic_id!r}")
    try:
        notice = read_notice(body, appointment_id)
    except BadNotice as exc:
        raise InvalidBooking([FieldError(exc.field, str(exc).split(": ", 1)[-1])]) from None
    inbox.put(clinic_id, notice, request.app.state.service.clock.now())
    request.app.state.fhir_wake()
    answer: dict[str, Any] = {
        "clinic_id": clinic_id,
        "appointments": notice.appointments,
        "look_again": notice.look_again,
    }
    return JSONResponse(answer, status_code=202)
