"""Rendering of the views to HTML with Jinja2 (autoescaped, templates compiled once)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.ops.web.chart import Chart, stacked_bars
from services.ops.web.shaping import SERIES, HourCount

if TYPE_CHECKING:
    from services.ops.web.auth.guard import Who


class Pages:
    """The page templates, loaded once from this package."""

    def __init__(self) -> None:
        env = Environment(
            loader=PackageLoader("services.ops.web", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )
        env.filters["when"] = when
        env.globals["chart"] = chart
        env.globals["series"] = SERIES
        self._overview = env.get_template("overview.html")
        self._journey = env.get_template("journey.html")
        self._search = env.get_template("search.html")
        self._inbox = env.get_template("replies.html")
        self._login = env.get_template("login.html")
        self._reply = env.get_template("reply.html")
        self._letter = env.get_template("dead_letter.html")

    def overview(self, view: dict[str, Any], who: Who) -> str:
        return self._overview.render(view=view, booking_id="", who=who)

    def journey(self, view: dict[str, Any], who: Who, revealed: bool = False) -> str:
        return self._journey.render(
            view=view, booking_id=view["booking_id"], who=who, revealed=revealed
        )

    def search(self, booking_id: str, error: str | None, who: Who) -> str:
        return self._search.render(booking_id=booking_id, error=error, who=who)

    def inbox(self, view: dict[str, Any], who: Who) -> str:
        return self._inbox.render(view=view, booking_id="", who=who)

    def reply(self, reply: dict[str, Any], who: Who) -> str:
        """One reply revealed in full to an admin."""
        return self._reply.render(r=reply, booking_id="", who=who)

    def dead_letter(self, letter: dict[str, Any], who: Who) -> str:
        """One dead letter revealed in full to an admin."""
        return self._letter.render(d=letter, booking_id="", who=who)

    def login(self, token: str, next_: str, error: str | None) -> str:
        return self._login.render(token=token, next=next_, error=error, booking_id="", who=None)


def when(value: str | None) -> str:
    """``2026-11-30T10:00:00+00:00`` as ``30 Nov 2026 10:00Z``; empty stays empty."""
    if not value:
        return ""
    try:
        return f"{datetime.fromisoformat(value):%d %b %Y %H:%MZ}"
    except ValueError:
        return value


def chart(hours: list[dict[str, Any]]) -> Chart:
    """The bar chart of one clinic's hourly counts, from the view's JSON form."""
    return stacked_bars([HourCount(datetime.fromisoformat(h["hour"]), h["counts"]) for h in hours])
