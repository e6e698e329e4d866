"""How each refusal looks over HTTP: a status code and a JSON body that says why."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.booking.errors import (
    AmbiguousBooking,
    BookingNotFound,
    Conflict,
    FieldError,
    InvalidBooking,
    NotAuthorised,
    NotFollowed,
    TooEarly,
    TransitionNotAllowed,
)


class ErrorItem(BaseModel):
    field: str
    message: str


class ValidationErrors(BaseModel):
    """422: every bad field of the request, by dotted path."""

    errors: list[ErrorItem]


class Problem(BaseModel):
    """Any other refusal; ``status`` is the booking's status when a change is not allowed."""

    detail: str
    status: str | None = None


def _errors(errors: list[FieldError]) -> JSONResponse:
    body = ValidationErrors(errors=[ErrorItem(field=e.field, message=e.message) for e in errors])
    return JSONResponse(body.model_dump(), status_code=422)


def _problem(status_code: int, exc: Exception, status: str | None = None) -> JSONResponse:
    return JSONResponse(
        Problem(detail=str(exc), status=status).model_dump(exclude_none=True),
        status_code=status_code,
    )


def _request_errors(exc: RequestValidationError) -> list[FieldError]:
    found = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        path = ".".join(loc[1:] if loc and loc[0] == "body" else loc)
        found.append(FieldError(path or "(body)", str(err["msg"])))
    return found


def install(app: FastAPI) -> None:
    """Register the handlers that turn booking refusals into responses."""

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidBooking)
        return _errors(exc.errors)

    async def request_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _errors(_request_errors(exc))

    async def not_allowed(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TransitionNotAllowed)
        return _problem(409, exc, exc.status)

    async def unauthorised(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NotAuthorised)
        return _problem(exc.status_code, exc)

    async def simple(_: Request, exc: Exception) -> JSONResponse:
        codes = (
            (BookingNotFound, 404),
            (NotFollowed, 404),
            (Conflict, 409),
            (TooEarly, 409),
            (AmbiguousBooking, 400),
        )
        return _problem(next(code for kind, code in codes if isinstance(exc, kind)), exc)

    app.add_exception_handler(InvalidBooking, invalid)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(TransitionNotAllowed, not_allowed)
    app.add_exception_handler(NotAuthorised, unauthorised)
    for kind in (BookingNotFound, NotFollowed, Conflict, TooEarly, AmbiguousBooking):
        app.add_exception_handler(kind, simple)
