"""How a FHIR server's failure is told: for now (try again at the next pass) or for good."""

from __future__ import annotations


class FhirUnavailable(Exception):
    """The server could not be read this time (down, slow, asking to wait longer than we
    do); nothing was changed, and the next pass tries again."""


class FhirRefusedRequest(Exception):
    """The server refused the request itself (401, 403, 400...): trying again as it is will
    not help; the message says what the server said."""
