"""A FHIR R4 server on loopback that answers as FHIR servers do, for the FHIR source's tests.

It keeps resources in memory with ``meta.versionId`` and ``meta.lastUpdated``, and serves
what the platform asks of a clinic's server: ``GET [base]/metadata``; searches of
``Appointment`` by ``date`` (ge/gt/le/lt) and ``_lastUpdated``, of any type by ``_id``
and ``identifier``; ``_include=Appointment:patient`` (unless told to ignore it, as
some servers do); ``_count`` with opaque paging links (``?_getpages=<token>``, as HAPI
FHIR writes them); reads; create (POST) and update (PUT). It can ask for a login (a
bearer token, or OAuth2 client credentials at ``/oauth/token``) and answer 429 or 503
with ``Retry-After`` for the next requests.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from services.shared.broker import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fhir"


def fixture(name: str) -> dict[str, Any]:
    """One of tests/fixtures/fhir's resources (HL7's R4 examples and vendors' documented ones)."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


class FhirServer:
    """The server's state and switches; its ``base_url`` ends in ``/fhir/R4``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/fhir/R4"
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[str] = []
        self.honours_include = True
        self.token: str | None = None
        self.client: tuple[str, str] | None = None
        """The registered client: its id and secret."""
        self.public_key: Any = None
        """The public half of the client's key, for its signed assertions."""
        self.forbidden: set[str] = set()
        """``Type/id`` of resources a read of answers 403 (a token without their scope)."""
        self.assertions_seen: set[Any] = set()
        """Each assertion's jti: one used twice is refused, as SMART servers do."""
        self.tokens_issued = 0
        self.busy: list[tuple[int, str]] = []
        self._pages: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- what tests do to it -------------------------------------------------

    def put(self, resource: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        """Create or update ``resource`` (a copy) as a clinic's system would; the stored copy."""
        with self._lock:
            kind, rid = resource["resourceType"], resource.get("id") or secrets.token_hex(6)
            before = self.resources.get((kind, rid))
            version = int(before["meta"]["versionId"]) + 1 if before else 1
            stored: dict[str, Any] = json.loads(json.dumps(resource))
            stored["id"] = rid
            when = (at or datetime.now(UTC)).isoformat(timespec="milliseconds")
            stored["meta"] = {
                **stored.get("meta", {}),
                "versionId": str(version),
                "lastUpdated": when,
            }
            self.resources[(kind, rid)] = stored
            return stored

    def throttle(self, times: int, status: int = 429, retry_after: str = "0") -> None:
        """Answer the next ``times`` requests with ``status`` and ``Retry-After``."""
        self.busy = [(status, retry_after)] * times

    def searches(self) -> list[str]:
        return [r for r in self.requests if "/Appointment?" in r or "_getpages" in r]

    # -- what it answers -----------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.requests.append(f"{method} {path}?{urllib.parse.urlencode(query, doseq=True)}")
        if path == "/oauth/token":
            return self._token(body)
        if self.busy:
            status, wait = self.busy.pop(0)
            return status, _outcome("throttled", "too many requests"), {"Retry-After": wait}
        if self.token is not None and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, _outcome("login", "a bearer token is required"), {}
        prefix = "/fhir/R4"
        if not path.startswith(prefix):
            return 404, _outcome("not-found", path), {}
        parts = [p for p in path[len(prefix) :].split("/") if p]
        if method == "GET" and parts == ["metadata"]:
            return 200, self._capabilities(), {}
        if method == "GET" and not parts and "_getpages" in query:
            page = self._pages.get(query["_getpages"][0], [])
            offset = int(query.get("_getpagesoffset", ["0"])[0])
            return (
                200,
                self._bundle(
                    query["_getpages"][0], page, offset, int(query.get("_count", ["20"])[0])
                ),
                {},
            )
        if method == "GET" and len(parts) == 1:
            return 200, self._search(parts[0], query), {}
        if method == "GET" and len(parts) == 2 and "/".join(parts) in self.forbidden:
            return 403, _outcome("forbidden", "the token's scopes do not cover it"), {}
        if method == "GET" and len(parts) == 2:
            found = self.resources.get((parts[0], parts[1]))
            return (
                (200, found, {})
                if found
                else (404, _outcome("not-found", f"{parts[0]}/{parts[1]}"), {})
            )
        if method in ("PUT", "POST") and len(parts) in (1, 2):
            resource = json.loads(body)
            if len(parts) == 2:
                resource["id"] = parts[1]
            return 201 if method == "POST" else 200, self.put(resource), {}
        return 400, _outcome("not-supported", f"{method} {path}"), {}

    def _token(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, {}
        if "client_assertion" in form:
            kind = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            if form.get("client_assertion_type") != kind:
                return 400, {"error": "invalid_request"}, {}
            if not self._assertion_holds(form["client_assertion"]):
                return 401, {"error": "invalid_client"}, {}
        elif (form.get("client_id"), form.get("client_secret")) != self.client:
            return 401, {"error": "invalid_client"}, {}
        self.tokens_issued += 1
        return 200, {"access_token": self.token, "token_type": "bearer", "expires_in": 300}, {}

    def _assertion_holds(self, assertion: str) -> bool:
        """A SMART Backend Services client assertion: signed by the registered key (RS384 or
        ES384), from the registered client, for this token endpoint, not expired."""
        if self.public_key is None or self.client is None:
            return False
        head, claims, signature = (_unb64(part) for part in assertion.split("."))
        header, body = json.loads(head), json.loads(claims)
        signed = assertion.rsplit(".", 1)[0].encode()
        try:
            if header["alg"] == "RS384":
                self.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA384())
            else:
                r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
                self.public_key.verify(
                    encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA384())
                )
        except (InvalidSignature, TypeError, ValueError):  # a wrong key, or a key of another kind
            return False
        now = datetime.now(UTC).timestamp()
        if body.get("jti") in self.assertions_seen or not header.get("kid"):
            return False
        self.assertions_seen.add(body.get("jti"))
        return bool(
            header.get("typ") == "JWT"
            and body["exp"] <= now + 300
            and body["iss"] == body["sub"] == self.client[0]
            and body["aud"] == f"http://127.0.0.1:{self.port}/oauth/token"
            and body["exp"] > datetime.now(UTC).timestamp()
        )

    def _search(self, kind: str, query: dict[str, list[str]]) -> dict[str, Any]:
        found = [
            r for (k, _), r in sorted(self.resources.items()) if k == kind and _matches(r, query)
        ]
        found.sort(key=lambda r: r["meta"]["lastUpdated"])
        entries = [{"resource": r, "search": {"mode": "match"}} for r in found]
        if "Appointment:patient" in query.get("_include", []) and self.honours_include:
            refs = {
                p["actor"]["reference"]
                for r in found
                for p in r.get("participant", [])
                if p.get("actor", {}).get("reference", "").startswith("Patient/")
            }
            for ref in sorted(refs):
                kind_of, _, id_of = ref.partition("/")
                if (patient := self.resources.get((kind_of, id_of))) is not None:
                    entries.append({"resource": patient, "search": {"mode": "include"}})
        token = secrets.token_urlsafe(12)
        self._pages[token] = entries
        return self._bundle(token, entries, 0, int(query.get("_count", ["20"])[0]))

    def _bundle(
        self, token: str, entries: list[dict[str, Any]], offset: int, count: int
    ) -> dict[str, Any]:
        page = entries[offset : offset + count]
        links = [
            {
                "relation": "self",
                "url": f"{self.base_url}?_getpages={token}&_getpagesoffset={offset}&_count={count}",
            }
        ]
        if offset + count < len(entries):
            links.append(
                {
                    "relation": "next",
                    "url": f"{self.base_url}?_getpages={token}"
                    f"&_getpagesoffset={offset + count}&_count={count}&_bundletype=searchset",
                }
            )
        total = sum(e["search"]["mode"] == "match" for e in entries)
        return {
            "resourceType": "Bundle",
            "meta": {"lastUpdated": datetime.now(UTC).isoformat(timespec="milliseconds")},
            "type": "searchset",
            "total": total,
            "link": links,
            "entry": [
                {
                    "fullUrl": "/".join(
                        (self.base_url, e["resource"]["resourceType"], e["resource"]["id"])
                    ),
                    **e,
                }
                for e in page
            ],
        }

    def _capabilities(self) -> dict[str, Any]:
        params = [
            {"name": n, "type": t}
            for n, t in (
                ("date", "date"),
                ("_lastUpdated", "date"),
                ("patient", "reference"),
                ("status", "token"),
            )
        ]
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": "Appointment",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "searchParam": params,
                            "searchInclude": ["Appointment:patient"]
                            if self.honours_include
                            else [],
                        },
                        {
                            "type": "Patient",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                        },
                    ],
                }
            ],
        }


def _matches(resource: dict[str, Any], query: dict[str, list[str]]) -> bool:
    for name, values in query.items():
        for value in values:
            if name == "date" and not _compare(resource.get("start"), value):
                return False
            if name == "_lastUpdated" and not _compare(resource["meta"]["lastUpdated"], value):
                return False
            if name == "_id" and resource.get("id") != value:
                return False
            if name == "identifier":
                system, _, code = value.rpartition("|")
                if not any(
                    i.get("value") == code and (not system or i.get("system") == system)
                    for i in resource.get("identifier", [])
                ):
                    return False
    return True


def _compare(found: str | None, condition: str) -> bool:
    if found is None:
        return False
    prefix, text = (
        (condition[:2], condition[2:])
        if condition[:2] in ("ge", "gt", "le", "lt", "eq")
        else ("eq", condition)
    )
    try:
        left, right = datetime.fromisoformat(found), datetime.fromisoformat(text)
    except ValueError:  # a value the server could not index: no date search finds it
        return False
    return {
        "ge": left >= right,
        "gt": left > right,
        "le": left <= right,
        "lt": left < right,
        "eq": left == right,
    }[prefix]


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "LocalFHIR/1"

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer, headers = self.server.fhir.answer(  # type: ignore[attr-defined]
            method, url.path, urllib.parse.parse_qs(url.query), self.headers, body
        )
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_fhir_server() -> Iterator[FhirServer]:
    """A started server, stopped afterwards."""
    fhir = FhirServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", fhir.port), _Handler)
    httpd.fhir = fhir  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield fhir
    finally:
        httpd.shutdown()
        httpd.server_close()
