"""Logging in to a clinic's FHIR server: a static bearer token, or OAuth2 client credentials
as SMART Backend Services asks for them (a JWT signed with the clinic's private key, or a
client secret where the server allows one)."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from services.booking.sources.fhir.errors import FhirRefusedRequest, FhirUnavailable
from services.shared.outbound import opener, refusal


class Login(Protocol):
    def authorization(self) -> str | None:
        """The ``Authorization`` header's value for the next request (None: none)."""
        ...


@dataclass(frozen=True)
class NoLogin:
    def authorization(self) -> str | None:
        return None


@dataclass(frozen=True)
class BearerToken:
    """A static token the clinic's server issued (kept in a file, never on the command line)."""

    token: str

    def authorization(self) -> str | None:
        return f"Bearer {self.token}"


SCOPES = " ".join(
    f"system/{kind}.read"
    for kind in ("Appointment", "Patient", "Slot", "Schedule", "Location", "Practitioner")
)
"""What a follower reads: the appointments, their patients, and where a time zone may be."""


class ClientProof(Protocol):
    def fields(self, client_id: str, token_url: str) -> dict[str, str]:
        """The token request's fields that prove the client is who it says."""
        ...


@dataclass(frozen=True)
class ClientSecret:
    """A client secret sent with the request (``client_secret_post``)."""

    secret: str = field(repr=False)

    def fields(self, client_id: str, token_url: str) -> dict[str, str]:
        return {"client_id": client_id, "client_secret": self.secret}


@dataclass(frozen=True)
class SignedAssertion:
    """SMART Backend Services' proof: a short-lived JWT (``private_key_jwt``) signed with the
    clinic's private key, RS384 for an RSA key or ES384 for a P-384 one, the public half
    registered with the server (``kid`` names it)."""

    private_key_pem: bytes = field(repr=False)
    key_id: str
    lifetime: int = 300

    def fields(self, client_id: str, token_url: str) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "exp": now + self.lifetime,
            "jti": secrets.token_hex(16),
        }
        return {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.token(claims),
        }

    def token(self, claims: dict[str, object]) -> str:
        """``claims`` as a compact JWS. ValueError if the key is neither RSA nor EC P-384."""
        key = serialization.load_pem_private_key(self.private_key_pem, password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm = "RS384"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
            algorithm = "ES384"
        else:
            raise ValueError("the private key is neither RSA nor EC P-384 (RS384 or ES384)")
        header = {"alg": algorithm, "typ": "JWT", "kid": self.key_id}
        signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(claims))}".encode()
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
        else:
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
            signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        return f"{signing_input.decode()}.{_b64(signature)}"


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class ClientCredentials:
    """OAuth2 client credentials, the grant of SMART Backend Services: a token fetched from
    ``token_url`` with the client's proof and reused until a minute before it expires."""

    token_url: str
    client_id: str
    proof: ClientProof
    scope: str = SCOPES
    timeout: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, repr=False)
    _until: float = 0.0

    def authorization(self) -> str | None:
        if self._token is None or self.clock() >= self._until:
            self._token, lifetime = self._fetch()
            self._until = self.clock() + max(lifetime - 60, 0)
        return f"Bearer {self._token}"

    def _fetch(self) -> tuple[str, float]:
        if (why := refusal(self.token_url)) is not None:
            raise FhirRefusedRequest(f"token URL: {why}")
        fields = {"grant_type": "client_credentials", "scope": self.scope}
        fields.update(self.proof.fields(self.client_id, self.token_url))
        request = urllib.request.Request(
            self.token_url,
            data=urllib.parse.urlencode(fields).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with opener(follow_redirects=False).open(request, timeout=self.timeout) as response:
                body = json.loads(response.read(1024 * 1024))
        except urllib.error.HTTPError as exc:
            raise FhirRefusedRequest(f"the token endpoint answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FhirUnavailable(f"cannot get a token from {self.token_url}: {exc}") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FhirRefusedRequest("the token endpoint's answer has no access_token")
        lifetime = body.get("expires_in", 300)
        return token, float(lifetime) if isinstance(lifetime, int | float) else 300.0
