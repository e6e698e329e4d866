"""The unsubscribe link on the web: a GET shows a confirm button, a POST unsubscribes.

Mail clients and link scanners fetch GETs on their own, so a GET never
changes anything. The POST is RFC 8058's one-click: the mail client sends
``List-Unsubscribe=One-Click`` (URL-encoded or multipart), with no login and
no cookies; the confirm button sends the same. Only the link's signature
says who is asking.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from html import escape
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from services.notifier.patients.email_opt_out import EmailOptOuts
from services.notifier.patients.unsubscribe import PATH, InvalidLink, Unsubscribe, UnsubscribeLinks
from services.shared.clinics import ClinicDirectory
from services.shared.masking import mask_text

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True)
class UnsubscribeParts:
    links: UnsubscribeLinks
    opt_outs: EmailOptOuts
    clinics: ClinicDirectory


def unsubscribe_routes(app: FastAPI, parts: UnsubscribeParts) -> None:
    """``GET`` and ``POST`` on ``/v1/unsubscribe/{token}``; a bad or missing signature is 403."""

    @app.get(PATH + "{token}", include_in_schema=False)
    def confirm(token: str) -> HTMLResponse:
        try:
            asked = parts.links.read(token)
        except InvalidLink as exc:
            return _page("This link does not work", str(exc), 403)
        done = parts.opt_outs.in_force(asked)
        if done is not None:
            return _page("You are unsubscribed", _unsubscribed(parts, asked))
        return _page("Unsubscribe?", _question(parts, asked), form=True)

    @app.post(PATH + "{token}", include_in_schema=False)
    async def unsubscribe(token: str, request: Request) -> HTMLResponse:
        try:
            asked = parts.links.read(token)
        except InvalidLink as exc:
            return _page("This link does not work", str(exc), 403)
        if not one_click(request.headers.get("content-type", ""), await request.body()):
            return _page("Nothing was changed", "the body must be List-Unsubscribe=One-Click", 400)
        await run_in_threadpool(parts.opt_outs.withdraw, asked)
        return _page("You are unsubscribed", _unsubscribed(parts, asked))


def one_click(content_type: str, body: bytes) -> bool:
    """Whether ``body`` holds ``List-Unsubscribe=One-Click``, URL-encoded or as multipart."""
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        form = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        fields = {
            str(part.get_param("name", header="content-disposition")): part.get_payload()
            for part in form.walk()
            if not part.is_multipart()
        }
    else:
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return str(fields.get("List-Unsubscribe", "")).strip() == "One-Click"


def _question(parts: UnsubscribeParts, asked: Unsubscribe) -> str:
    clinic = parts.clinics.get(asked.clinic_id).name
    return f"Stop the emails {clinic} sends to {mask_text(asked.address)}?"


def _unsubscribed(parts: UnsubscribeParts, asked: Unsubscribe) -> str:
    clinic = parts.clinics.get(asked.clinic_id).name
    return (
        f"{clinic} will send no more emails to {mask_text(asked.address)}. "
        "Text messages, if you get them, are not changed: reply STOP to one to end those."
    )


def _page(title: str, text: str, status: int = 200, form: bool = False) -> HTMLResponse:
    button = (
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        if form
        else ""
    )
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title></head>'
        '<body style="font-family:Helvetica,Arial,sans-serif;max-width:32rem;margin:3rem auto;">'
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>{button}</body></html>"
    )
    return HTMLResponse(html, status, headers=NO_STORE)
