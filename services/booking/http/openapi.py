"""The documented request body of ``POST /v1/bookings``.

The handler validates the raw JSON itself, so that one 422 can name every bad
field (shape and booking rules together); this module gives the OpenAPI page
the schema that validation enforces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from services.booking.domain import SERVICE_FIELDS
from services.shared.events import Booking

BOOKING_REQUEST_REF = "#/components/schemas/BookingRequest"


def booking_request_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The v1 booking request (a :class:`Booking` without the service-set fields), and its defs."""
    schema = Booking.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    for name in SERVICE_FIELDS:
        schema["properties"].pop(name, None)
    schema["title"] = "BookingRequest"
    schema["description"] = (
        "A new booking, v1. The service sets status, schedule_version, booked_at."
    )
    return schema, defs


def request_body() -> dict[str, Any]:
    """``openapi_extra`` for the create route."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": BOOKING_REQUEST_REF}}},
        }
    }


def with_booking_request(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An ``app.openapi`` that also publishes the BookingRequest schema."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = default()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        request, defs = booking_request_schema()
        for name, schema in defs.items():
            schemas.setdefault(name, schema)
        schemas["BookingRequest"] = request
        app.openapi_schema = spec
        return spec

    return openapi
