"""Schemathesis against the booking API's own OpenAPI: no input makes it answer 500.

Every operation gets schema-valid (positive) and schema-breaking (negative)
requests, in-process over ASGI, on the SQLite default and on the real
PostgreSQL (which refuses what SQLite lets through, such as NUL characters).
Each response must be no server error, a documented status code, the
documented content type, and match the documented schema.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("CLINIC_SCHEMATHESIS_EXAMPLES", "25"))
"""Per operation and mode: about 7 s per database; raise it for a deeper search."""

Operation: TypeAlias = schemathesis.APIOperation[Any, Any, Any, Any]


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    store = BookingStore(database_url)
    settings = BookingSettings(var_dir=tmp_path, topic_prefix="st.")
    yield create_app(settings, store, ManualClock(datetime(2026, 11, 1, 9, tzinfo=UTC)))
    store.close()


def _failures(operation: Operation, mode: GenerationMode) -> list[str]:
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Operation]) -> None:
        try:
            case.call_and_validate(checks=CHECKS)
        except BaseExceptionGroup as exc:
            found.append(f"{operation.label} ({mode.value}):\n{exc}")

    # Unsatisfiable: nothing to break, as in an operation without parameters or body.
    with contextlib.suppress(Unsatisfiable):
        check()
    return found


def _operations(schema: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation of the schema; an operation the schema cannot describe is raised."""
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


def test_no_request_makes_the_booking_api_fail_or_break_its_contract(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = _operations(schema)
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in _failures(operation, mode)
    ]

    assert len(operations) >= 9
    assert not failures, "\n\n".join(failures[:5])
