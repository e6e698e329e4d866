"""The notifier's HTTP side: health, metrics, Twilio's webhooks, emails' unsubscribe links.

Handlers are thin: check the signature, decode the form, call the domain
(:mod:`inbound`, :mod:`status_callbacks`) off the event loop, answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.http.status_callbacks import CallbackResult, StatusCallbacks
from services.notifier.http.unsubscribe_web import UnsubscribeParts, unsubscribe_routes
from services.notifier.patients.inbound import InboundSms, InboundTexts, InvalidInbound
from services.shared.body_limit import BodyLimit
from services.shared.metrics import PlatformMetrics, observe_backlogs

TWIML = "application/xml"


@dataclass(frozen=True)
class WebParts:
    """What the HTTP side reads and calls; ``partitions`` says what the consumer holds."""

    ledger: DeliveryLedger
    inbound: InboundTexts
    callbacks: StatusCallbacks
    metrics: PlatformMetrics
    partitions: Callable[[], tuple[int, ...]]
    auth_token: str = ""
    public_url: str | None = None
    unsubscribe: UnsubscribeParts | None = None


def create_app(parts: WebParts) -> FastAPI:
    """The FastAPI app; nothing is opened or served until a server runs it."""
    app = FastAPI(title="clinic-reminders notifier", docs_url=None, redoc_url=None)
    _ops_routes(app, parts)
    _twilio_routes(app, parts)
    if parts.unsubscribe is not None:
        unsubscribe_routes(app, parts.unsubscribe)
    app.add_middleware(BodyLimit, limit=MAX_FORM_BYTES)
    return app


def _ops_routes(app: FastAPI, parts: WebParts) -> None:
    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            parts.ledger.ping()
            ledger = "ok"
        except Exception as exc:  # any database error means not healthy, and says why
            ledger = f"unreachable: {type(exc).__name__}"
        partitions = list(parts.partitions())
        healthy = ledger == "ok" and bool(partitions)
        body = {"status": "ok" if healthy else "unhealthy", "ledger": ledger}
        return JSONResponse({**body, "partitions": partitions}, 200 if healthy else 503)

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        observe_backlogs(
            parts.metrics, ledger_states=LedgerReads(parts.ledger.engine).count_by_state()
        )
        return Response(generate_latest(parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _twilio_routes(app: FastAPI, parts: WebParts) -> None:
    @app.post("/v1/twilio/inbound")
    async def inbound(request: Request) -> Response:
        form = await _signed_form(request, parts)
        sms = InboundSms(
            _field(form, "From"),
            _field(form, "To"),
            form.get("Body", ""),
            form.get("MessageSid", ""),
        )
        try:
            reply = await run_in_threadpool(parts.inbound.handle, sms)
        except InvalidInbound as exc:
            raise HTTPException(400, str(exc)) from exc
        twiml = MessagingResponse()
        if reply:
            twiml.message(reply)
        return Response(str(twiml), media_type=TWIML)

    @app.post("/v1/twilio/status")
    async def status(request: Request) -> JSONResponse:
        form = await _signed_form(request, parts)
        sid, state = _field(form, "MessageSid"), _field(form, "MessageStatus")
        result = await run_in_threadpool(
            parts.callbacks.handle, sid, state, form.get("ErrorCode") or None
        )
        code = 404 if result is CallbackResult.UNKNOWN_MESSAGE else 200
        return JSONResponse({"message_sid": sid, "result": result.value}, code)


MAX_FORM_BYTES = 64 * 1024
"""Twilio's webhook forms are a few hundred bytes; anything this big is not Twilio."""


async def _signed_form(request: Request, parts: WebParts) -> dict[str, str]:
    """The form fields, once ``X-Twilio-Signature`` is checked (403 when it does not match)."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is over {MAX_FORM_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        form = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, "the form is not URL-encoded UTF-8") from exc
    if not parts.auth_token:
        return form
    url = str(request.url)
    if parts.public_url:
        url = parts.public_url.rstrip("/") + request.url.path
        url += f"?{request.url.query}" if request.url.query else ""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(parts.auth_token).validate(url, form, signature):
        raise HTTPException(403, "X-Twilio-Signature does not match this request")
    return form


def _field(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise HTTPException(400, f"{name}: required")
    return value
