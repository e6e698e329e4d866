"""One pass over a clinic's FHIR server: the appointments that changed since the last pass
(all those in the booking window, the first time) become booking changes through
:class:`BookingService`, so the same outbox and events as the API.

The first pass asks for ``Appointment`` by ``date`` (the window a new booking may start
in) and later ones by ``_lastUpdated`` since the watermark less an overlap:
the watermark is the latest ``meta.lastUpdated`` the server gave (its clock, not ours),
kept in the booking database (the search's own ``meta.lastUpdated`` when no appointment
came yet). What the overlap brings again is known by its
``meta.versionId`` (else its ``meta.lastUpdated``) and left alone. A refused appointment
is not remembered: it is taken once it changes, or at the next full pass
(:meth:`FhirSync.run_once` with ``full``), after the clinic fixed its map.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from services.booking.domain import StatusChange
from services.booking.errors import BookingError, TransitionNotAllowed
from services.booking.service import BookingService
from services.booking.settings import FhirServerSettings
from services.booking.sources.fhir.client import FhirClient
from services.booking.sources.fhir.errors import FhirRefusedRequest, FhirUnavailable
from services.booking.sources.fhir.inbox import FhirInbox
from services.booking.sources.fhir.login import (
    BearerToken,
    ClientCredentials,
    ClientProof,
    ClientSecret,
    Login,
    SignedAssertion,
)
from services.booking.sources.fhir.mapping import (
    Action,
    Mapped,
    Refused,
    Unreadable,
    map_appointment,
)
from services.booking.sources.fhir.resources import MODELS, parse_resource, refusal_of
from services.booking.sources.fhir.rules import FhirRules, Treatment
from services.booking.sources.fhir.state import FhirState, Seen, source_name
from services.booking.sources.report import EventResult, Outcome, SyncReport, upserted
from services.shared.events import BookingStatus

SOURCE = "fhir"
log = logging.getLogger(__name__)
OVERLAP = timedelta(minutes=5)
"""How far before the watermark each pass asks again: a change the server committed late,
with an earlier ``lastUpdated``, is not passed over."""
PAGE = 100
"""``_count``: appointments per page asked for (the server may give fewer)."""


@dataclass(frozen=True)
class FhirServer:
    """One clinic's FHIR server to follow: where it is, how to log in, and the clinic's rules."""

    client: FhirClient
    rules: FhirRules

    @property
    def name(self) -> str:
        return source_name(self.client.base_url, self.rules.clinic_id)


def build_server(entry: FhirServerSettings) -> FhirServer:
    """The server an entry of the settings (or ``fhir sync``'s options) names.

    Raises:
        OSError, ValueError: a secret file cannot be read, or a rule is not one.
    """
    try:
        ZoneInfo(entry.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {entry.timezone!r} is not an IANA time zone") from None
    rules = FhirRules(
        clinic_id=entry.clinic_id,
        codes={key: Treatment.parse(value) for key, value in entry.map.items()},
        default=Treatment.parse(entry.treatment) if entry.treatment else None,
        timezone=entry.timezone,
        consent=FhirRules.parse_consent(entry.consent),
    )
    return FhirServer(FhirClient(entry.base_url, _login(entry)), rules)


def _login(entry: FhirServerSettings) -> Login | None:
    if entry.token_file is not None:
        return BearerToken(_secret(entry.token_file))
    if not (entry.token_url and entry.client_id):
        return None
    proof: ClientProof
    if entry.private_key_file is not None:
        assert entry.key_id is not None  # the settings ask for it with a key
        proof = SignedAssertion(entry.private_key_file.read_bytes(), entry.key_id)
        try:
            proof.token({"iss": entry.client_id})  # the key is read and signs, or says why
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{entry.private_key_file}: {exc}") from exc
    else:
        assert entry.client_secret_file is not None  # the settings ask for one or the other
        proof = ClientSecret(_secret(entry.client_secret_file))
    return ClientCredentials(entry.token_url, entry.client_id, proof)


def _secret(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{path} is empty")
    return text


class FhirSync:
    """Brings one clinic's bookings in line with its FHIR server, a pass at a time.

    Every ``reconcile_every`` (and at the first pass after a start) the pass is a full
    one: every appointment in the booking window is read again, so that one refused
    before the clinic fixed its map, or a change a server never dated, is taken.
    """

    def __init__(
        self,
        server: FhirServer,
        service: BookingService,
        state: FhirState,
        reconcile_every: timedelta = timedelta(hours=6),
        inbox: FhirInbox | None = None,
    ) -> None:
        self.server = server
        self._service = service
        self._state = state
        self._inbox = inbox
        self._reconcile_every = reconcile_every
        self._last_full: datetime | None = None

    @property
    def name(self) -> str:
        return self.server.name

    def run_once(self, full: bool | None = None) -> SyncReport:
        """Ask for what changed since the last pass (every appointment in the booking window
        the first time, when ``full``, or when a reconciling pass is due) and apply it.

        Raises:
            FhirUnavailable, FhirRefusedRequest: the server could not be searched; what
                was applied before stays, and the watermark does not move.
        """
        now = self._service.clock.now()
        results = self._take_pushed(now)
        if full is None:
            full = self._last_full is None or now - self._last_full >= self._reconcile_every
        if full:
            self._last_full = now
        watermark = None if full else self._state.watermark(self.server.name)
        newest: datetime | None = None
        answered: datetime | None = None
        included: dict[str, dict[str, Any]] = {}
        for page in self.server.client.search("Appointment", self._params(now, watermark)):
            answered = answered or _last_updated(page)
            for raw in _entries(page, included):
                results.append(self._take(raw, included, now))
                updated = _last_updated(raw)
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
        # None changed yet: when the server answered is where the next pass starts.
        if newest is not None and answered is not None:
            newest = min(newest, answered)  # a resource dated ahead of its server never pins it
        mark = newest or (answered if watermark is None else None)
        if mark is not None:
            self._state.advance(self.server.name, mark, now)
        return SyncReport(tuple(results))

    def _take_pushed(self, now: datetime) -> list[EventResult]:
        """Take what the server pushed (:mod:`notifications`), oldest first; a notice is
        dropped once taken, and stays for the next pass if the server cannot be read."""
        if self._inbox is None:
            return []
        results: list[EventResult] = []
        for notice_id, notice in self._inbox.waiting(self.server.rules.clinic_id):
            included = {
                f"{r['resourceType']}/{r.get('id')}": r
                for r in notice.resources
                if r.get("resourceType") != "Appointment"
            }
            for raw in notice.resources:
                if raw.get("resourceType") == "Appointment":
                    results.append(self._take(raw, included, now))
            for reference in notice.references:
                try:
                    found = self.server.client.read(reference)
                except FhirRefusedRequest as exc:  # this one only; the notice is done
                    results.append(EventResult(reference, Outcome.REJECTED, reason=str(exc)))
                    continue
                if found is None:
                    results.append(self._gone(reference))
                else:
                    results.append(self._take(found, included, now))
            self._inbox.done(notice_id)
        return results

    def _gone(self, reference: str) -> EventResult:
        """A pushed appointment the server no longer has (deleted): its booking is cancelled."""
        booking_id = reference.rsplit("/", 1)[-1]
        current = self._service.store.get(self.server.rules.clinic_id, booking_id)
        if current is None or current.status is not BookingStatus.BOOKED:
            why = "pushed, but the server no longer has it"
            return EventResult(reference, Outcome.IGNORED, booking_id, why)
        outcome = self._change(booking_id, StatusChange.CANCEL)
        return EventResult(reference, outcome, booking_id, "deleted on the server")

    def _params(self, now: datetime, watermark: datetime | None) -> list[tuple[str, str]]:
        """The first pass (or a full one) asks by ``date`` for the booking window; later
        ones by ``_lastUpdated`` alone, so that an appointment whose time is only in its
        Slot (no ``start`` for ``date`` to match) is seen once it changes."""
        window = self._service.window
        params = [("_include", "Appointment:patient"), ("_count", str(PAGE))]
        if watermark is None:
            params += [
                ("date", f"ge{_instant(now - window.past)}"),
                ("date", f"le{_instant(now + window.future)}"),
            ]
        else:
            params.append(("_lastUpdated", f"ge{_instant(watermark - OVERLAP)}"))
        return params

    def preview(self) -> SyncReport:
        """What a full pass would do now, doing nothing: each appointment in the booking
        window would be booked (``created``), left as its status says (``ignored``), or
        refused with the reason (``rejected``)."""
        now = self._service.clock.now()
        results: list[EventResult] = []
        included: dict[str, dict[str, Any]] = {}
        for page in self.server.client.search("Appointment", self._params(now, None)):
            for raw in _entries(page, included):
                item, booking_id = f"Appointment/{raw.get('id') or '?'}", str(raw.get("id") or "")

                def checked(raw: dict[str, Any] = raw) -> tuple[Mapped, Outcome, str]:
                    mapped = self._map(raw, included, now)
                    if mapped.body is not None:
                        self._service.check(mapped.body)
                    return mapped, Outcome.CREATED, ""

                done = self._refusing(item, booking_id, checked)
                if isinstance(done, EventResult):
                    results.append(done)
                    continue
                mapped = done[0]
                if mapped.action is Action.BOOK:
                    results.append(EventResult(item, Outcome.CREATED, mapped.appointment_id))
                else:
                    why = f"status {mapped.status}: {mapped.action.value}"
                    results.append(EventResult(item, Outcome.IGNORED, mapped.appointment_id, why))
        return SyncReport(tuple(results))

    def _take(
        self, raw: dict[str, Any], included: dict[str, dict[str, Any]], now: datetime
    ) -> EventResult:
        booking_id = str(raw.get("id") or "")
        item = f"Appointment/{booking_id or '?'}"
        version = _version(raw)
        seen = self._state.seen(self.server.name, booking_id) if booking_id else None
        if seen is not None and seen.version == version:
            return EventResult(item, Outcome.UNCHANGED, booking_id)
        if seen is not None and _older(version, seen.version):
            why = f"version {version} is older than {seen.version}, already taken"
            return EventResult(item, Outcome.IGNORED, booking_id, why)

        def applied() -> tuple[Mapped, Outcome, str]:
            mapped = self._map(raw, included, now)
            return (mapped, *self._apply(mapped, now))

        done = self._refusing(item, booking_id, applied)
        if isinstance(done, EventResult):
            return done
        mapped, outcome, reason = done
        kept = Seen(version, mapped.action)
        self._state.keep(self.server.name, self.server.rules.clinic_id, booking_id, kept, now)
        return EventResult(item, outcome, booking_id, reason)

    def _refusing(
        self, item: str, booking_id: str, work: Callable[[], tuple[Mapped, Outcome, str]]
    ) -> tuple[Mapped, Outcome, str] | EventResult:
        """``work``'s result, or the item refused with why. The server or the database
        failing is raised: the pass is retried, not this appointment refused."""
        try:
            return work()
        except (Refused, BookingError) as exc:
            return EventResult(item, Outcome.REJECTED, booking_id, str(exc))
        except (FhirUnavailable, SQLAlchemyError):
            raise
        except Exception as exc:  # one appointment nothing above foresaw stops no other
            log.exception("fhir %s: %s could not be read", self.server.name, item)
            why = f"could not be read ({type(exc).__name__}: {exc})"
            return EventResult(item, Outcome.REJECTED, booking_id, why)

    def _map(
        self, raw: dict[str, Any], included: dict[str, dict[str, Any]], now: datetime
    ) -> Mapped:
        """``raw`` read and mapped; :class:`Refused` naming the field of whatever is wrong
        with it or with a resource it points at."""
        try:
            appointment = parse_resource(raw, Appointment)
        except ValidationError as exc:
            raise Refused(refusal_of(exc, "Appointment")) from exc
        try:
            return map_appointment(appointment, self.server.rules, self._resolver(included), now)
        except ValidationError as exc:  # the Patient it points at
            raise Refused(refusal_of(exc)) from exc

    def _apply(self, mapped: Mapped, now: datetime) -> tuple[Outcome, str]:
        clinic, booking_id = self.server.rules.clinic_id, mapped.appointment_id
        if mapped.action is Action.BOOK:
            assert mapped.body is not None
            return self._book(mapped.body, now), ""
        current = self._service.store.get(clinic, booking_id)
        if current is None:
            return Outcome.IGNORED, f"{mapped.status} before it was ever booked here"
        if mapped.action is Action.HOLD:
            if current.status is not BookingStatus.BOOKED:
                return Outcome.UNCHANGED, ""
            return self._change(booking_id, StatusChange.CANCEL), (
                f"status {mapped.status}: not reminded; its booking is cancelled, and a new"
                " appointment is needed to remind again"
            )
        change = {
            Action.ATTEND: StatusChange.ATTENDED,
            Action.NO_SHOW: StatusChange.NO_SHOW,
            Action.CANCEL: StatusChange.CANCEL,
        }[mapped.action]
        if current.status is change.status:
            return Outcome.UNCHANGED, ""
        return self._change(booking_id, change), f"status {mapped.status}"

    def _book(self, body: dict[str, Any], now: datetime) -> Outcome:
        start = datetime.fromisoformat(body["start"])
        current = self._service.store.get(body["clinic_id"], body["booking_id"])
        if current is None and start < now - self._service.window.past:
            return Outcome.PAST
        if current is not None and current.status is BookingStatus.CANCELLED:
            raise Refused("the booking was cancelled; a cancelled booking is not booked again")
        return upserted(self._service.upsert(body, source=SOURCE))

    def _change(self, booking_id: str, change: StatusChange) -> Outcome:
        try:
            self._service.change_status(
                self.server.rules.clinic_id, booking_id, change, source=SOURCE
            )
        except TransitionNotAllowed as exc:
            if exc.status != change.status.value:
                raise
            return Outcome.UNCHANGED
        return {
            StatusChange.CANCEL: Outcome.CANCELLED,
            StatusChange.ATTENDED: Outcome.ATTENDED,
            StatusChange.NO_SHOW: Outcome.NO_SHOW,
        }[change]

    def _resolver(self, included: dict[str, dict[str, Any]]) -> Any:
        client = self.server.client

        def resolve(reference: Reference, kind: str) -> Any | None:
            try:
                return _resolve(client, included, reference, kind)
            except FhirRefusedRequest as exc:
                raise Unreadable(str(exc)) from exc
            except ValidationError as exc:
                if kind == "Patient":
                    raise
                raise Unreadable(refusal_of(exc)) from exc

        return resolve


def _resolve(
    client: FhirClient, included: dict[str, dict[str, Any]], reference: Reference, kind: str
) -> Any | None:
    """The resource ``reference`` points at: from the pages' ``_include``, else read from
    the server (by identifier, a search); None if the server has none."""
    model = MODELS[kind]
    if reference.reference:
        key = _relative(reference.reference, client.base_url)
        raw = included.get(key)
        if raw is None:
            raw = client.read(key)
            if raw is None:
                return None
            included[key] = raw
        return parse_resource(raw, model)
    identifier = reference.identifier
    if identifier is not None and identifier.value:
        token = (
            f"{identifier.system}|{identifier.value}"
            if identifier.system
            else str(identifier.value)
        )
        for page in client.search(kind, [("identifier", token)]):
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == kind:
                    return parse_resource(resource, model)
            break
    return None


def _entries(page: dict[str, Any], included: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's matched appointments; its included resources go into ``included`` by
    ``Type/id``. An entry with no search mode is a match when it is an Appointment."""
    matches: list[dict[str, Any]] = []
    for entry in page.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        mode = (
            (entry.get("search") or {}).get("mode")
            if isinstance(entry.get("search"), dict)
            else None
        )
        kind = resource.get("resourceType")
        if kind == "Appointment" and mode in (None, "match"):
            matches.append(resource)
        elif kind and resource.get("id"):
            included[f"{kind}/{resource['id']}"] = resource
    return matches


def _relative(reference: str, base_url: str) -> str:
    """``Patient/1`` for ``[base]/Patient/1`` or ``Patient/1/_history/2``."""
    if reference.startswith(base_url.rstrip("/") + "/"):
        reference = reference[len(base_url.rstrip("/")) + 1 :]
    kind, _, rest = reference.partition("/")
    return f"{kind}/{rest.split('/')[0]}" if "://" not in reference else reference


def _meta(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw.get("meta")
    return meta if isinstance(meta, dict) else {}


def _version(raw: dict[str, Any]) -> str:
    """``meta.versionId``, else ``meta.lastUpdated``, else a digest of the resource itself
    (a server that keeps no versions: any change is a new one)."""
    meta = _meta(raw)
    found = meta.get("versionId") or meta.get("lastUpdated")
    if found:
        return str(found)[:128]
    body = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _older(version: str, than: str) -> bool:
    """Whether ``version`` comes before ``than`` (both numbers, as versionIds mostly are)."""
    return version.isdigit() and than.isdigit() and int(version) < int(than)


def _last_updated(raw: dict[str, Any]) -> datetime | None:
    meta = _meta(raw)
    try:
        found = datetime.fromisoformat(str(meta.get("lastUpdated")))
    except ValueError:
        return None
    return found if found.tzinfo else None


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
