"""Each clinic's own settings, from one file both the worker and the notifier read.

Name, phone and sign-off are what its messages show; quiet hours (in the
patient's zone) shape the plan and are checked again at send time; the
maintenance recall is annual or twice a year; reply words say what patients
text back to confirm or rearrange; a callback URL receives each confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from services.shared.events import Phone
from services.shared.outbound import refusal
from services.shared.reply_words import ReplyWords, words_for

LocaleKey = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]


class QuietHours(BaseModel):
    """A nightly window (in the patient's own zone) in which no message is sent.

    ``start`` after ``end`` means the window spans midnight (21:00 to 08:00).
    Planning moves a reminder out of it (:func:`quiet_until`) and the notifier
    holds one that arrives inside it until it ends: the same rule, here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = time(21, 0)
    end: time = time(8, 0)

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"21:00-08:00"`` → the window; an empty string → None (no quiet hours)."""
        if not text.strip():
            return None
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError as exc:
            raise ValueError(f"quiet hours {text!r} are not HH:MM-HH:MM") from exc
        return cls(start=start, end=end)

    def contains(self, local: time) -> bool:
        return in_window(local, self.start, self.end)


DEFAULT_QUIET = QuietHours()
"""For a clinic that names none: 21:00 to 08:00."""
DEFAULT_QUIET_HOURS = f"{DEFAULT_QUIET.start:%H:%M}-{DEFAULT_QUIET.end:%H:%M}"
"""The same, as ``CLINIC_DEFAULT_QUIET_HOURS`` writes it (empty there means none)."""


def quiet_until(quiet: QuietHours | None, zone_name: str, now: datetime) -> datetime | None:
    """When the quiet window around ``now`` opens again, or None if ``now`` is not in one.

    The end is a wall-clock time in the patient's zone, so it holds across
    daylight-saving changes (an end in the hour skipped in spring is read with
    the offset before the change); the answer is an aware datetime.
    """
    if quiet is None:
        return None
    return quiet_ends(quiet, ZoneInfo(zone_name), now)


def quiet_ends(quiet: QuietHours, zone: ZoneInfo, now: datetime) -> datetime | None:
    """:func:`quiet_until` for a zone already looked up (the planner's, per milestone)."""
    local = now.astimezone(zone)
    if not quiet.contains(local.time()):  # time(): the wall time, without a zone
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=zone)
    return end


def in_window(wall: time, start: time, end: time) -> bool:
    """Whether a local wall time falls in ``[start, end)``, which may wrap midnight.

    ``start == end`` is an empty window (no quiet hours).
    """
    if start == end:
        return False
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


class ClinicInfo(BaseModel):
    """One clinic as its messages present it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    phone: Phone | None = None
    sign_off: str = ""
    quiet_hours: QuietHours | None = DEFAULT_QUIET
    sms_segment_budget: Annotated[int, Field(ge=1, le=10)] = 2
    maintenance: Literal["annual", "biannual"] = "annual"
    attendance: Literal["assumed", "reported"] = "assumed"
    """``assumed``: a booked treatment counts as attended (its aftercare is planned at
    once, a cancel or no-show takes it back); ``reported``: on ``booking.attended``."""
    attendance_grace_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 15
    """How long before its start an appointment may be marked attended or no-show."""
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "GB"
    """ISO 3166 code: a phone number given without ``+`` is read as one of this country's."""
    replies: dict[LocaleKey, ReplyWords] = Field(default_factory=dict)
    """The clinic's own words to confirm or rearrange, by locale (``fr-FR``) or language
    (``fr``); the platform's (C or 1, R or 2) elsewhere. Twilio's reserved words are refused."""

    callback_url: AnyHttpUrl | None = None
    """Where the booking service POSTs each ``booking.confirmed`` event (signed, retried):
    https (plain http only to this machine); a redirect is never followed."""
    callback_secret: Annotated[SecretStr, Field(min_length=16)] | None = None
    """The key of the callback's HMAC-SHA256 signature; required with ``callback_url``."""

    @model_validator(mode="after")
    def _callback_is_signed(self) -> ClinicInfo:
        if self.callback_url is not None and self.callback_secret is None:
            raise ValueError("callback_url needs a callback_secret (16 characters or more)")
        if self.callback_url is not None and (why := refusal(str(self.callback_url))):
            raise ValueError(f"callback_url {why}")
        return self

    def reply_words(self, locale: str) -> ReplyWords:
        """The words a patient of ``locale`` replies with to confirm or rearrange."""
        return words_for(locale, self.replies)


def default_clinic(
    clinic_id: str,
    quiet_hours: QuietHours | None = DEFAULT_QUIET,
    maintenance: Literal["annual", "biannual"] = "annual",
) -> ClinicInfo:
    """A clinic nobody described: its name comes from its id (``dr-jenny`` → ``Dr Jenny``)."""
    name = " ".join(part.capitalize() for part in clinic_id.replace("_", "-").split("-") if part)
    name = (name or clinic_id)[:100]  # an id may be longer than a name may be
    return ClinicInfo(
        name=name, sign_off=f"The team at {name}", quiet_hours=quiet_hours, maintenance=maintenance
    )


UNLISTED_KEPT = 10_000
"""Clinics nobody described whose made-up details are kept (asked for once per message)."""


class ClinicDirectory:
    """Clinic details by id; a clinic not listed gets :func:`default_clinic`."""

    def __init__(
        self,
        clinics: Mapping[str, ClinicInfo] | None = None,
        default_quiet_hours: QuietHours | None = DEFAULT_QUIET,
    ) -> None:
        self._clinics = dict(clinics or {})
        self._default_quiet_hours = default_quiet_hours
        self._unlisted: dict[str, ClinicInfo] = {}

    def get(self, clinic_id: str) -> ClinicInfo:
        listed = self._clinics.get(clinic_id) or self._unlisted.get(clinic_id)
        if listed is not None:
            return listed
        if len(self._unlisted) >= UNLISTED_KEPT:
            self._unlisted.clear()
        made = self._unlisted[clinic_id] = default_clinic(clinic_id, self._default_quiet_hours)
        return made

    def ids(self) -> list[str]:
        return sorted(self._clinics)

    @classmethod
    def from_yaml(
        cls, path: Path | None, default_quiet_hours: QuietHours | None = DEFAULT_QUIET
    ) -> ClinicDirectory:
        """Read ``{clinic_id: {name, phone, sign_off, ...}}``; ValueError names the entry."""
        if path is None:
            return cls(default_quiet_hours=default_quiet_hours)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not readable as YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of clinic id to clinic details")
        clinics: dict[str, ClinicInfo] = {}
        for clinic_id, entry in raw.items():
            try:
                clinics[str(clinic_id)] = ClinicInfo.model_validate(entry)
            except ValidationError as exc:
                raise ValueError(f"{path}: clinic {clinic_id!r}: {exc}") from exc
        return cls(clinics, default_quiet_hours)
