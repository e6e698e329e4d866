"""Logging for every service: readable text on a console, JSON lines in production.

``CLINIC_LOG_FORMAT=json`` gives one JSON object per line with the time, level,
service, logger and message, plus any ``reminder_id``, ``booking_id``,
``clinic_id``, ``topic``, ``partition`` or ``offset`` passed as ``extra``. Phone
numbers and email addresses are masked in every line, whatever the format.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from services.shared.masking import mask_text

CONTEXT_FIELDS = (
    "reminder_id",
    "booking_id",
    "clinic_id",
    "milestone",
    "channel",
    "topic",
    "partition",
    "offset",
)
LogFormat = Literal["text", "json"]


MAX_VALUE = 1000
"""Characters of one interpolated value kept in a line; the rest is counted, not shown."""
FRAMEWORKS = ("faust", "mode")
"""Loggers whose values are the framework's own (its tables span lines on purpose)."""


def escaped(value: str, limit: int = MAX_VALUE) -> str:
    """``value`` on one line: control characters written as escapes, cut at ``limit``."""
    if len(value) <= limit and value.isprintable():  # most values: nothing to escape or cut
        return value
    flat = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in value
    )
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}... ({len(flat) - limit} more)"


class MaskingFilter(logging.Filter):
    """Rewrites each record's message with phones and emails masked, before any handler.

    Values interpolated into a message (``log.info("reply %s", body)``) may come
    from anyone: each string is escaped and cut (:func:`escaped`), so that a
    patient's text or a request path cannot forge a log line or flood the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and not record.name.startswith(FRAMEWORKS):
            record.args = _escaped_args(record.args)
        record.msg = mask_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:  # a traceback can quote a phone too
            record.exc_text = mask_text(_PLAIN.formatException(record.exc_info))
        return True


_PLAIN = logging.Formatter()


def _escaped_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {k: escaped(v) if isinstance(v, str) else v for k, v in args.items()}
    return tuple(escaped(a) if isinstance(a, str) else a for a in args)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the context fields a record carries are kept as keys."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure_logging(
    service: str, level: int = logging.INFO, fmt: LogFormat | None = None
) -> None:
    """Route the root logger to stdout in ``fmt`` (default: ``CLINIC_LOG_FORMAT`` or text).

    ``CLINIC_LOG_LEVEL`` (e.g. ``warning``), when set, overrides ``level``. The
    Kafka clients' chatter is kept to warnings. Raises ``SystemExit`` naming the
    variable when either holds something unknown.
    """
    if named := os.environ.get("CLINIC_LOG_LEVEL"):
        resolved = logging.getLevelName(named.upper())
        if not isinstance(resolved, int):
            raise SystemExit(f"configuration error: CLINIC_LOG_LEVEL {named!r} is not a level")
        level = resolved
    chosen = fmt or os.environ.get("CLINIC_LOG_FORMAT", "text")
    if chosen not in ("text", "json"):
        raise SystemExit(
            f"configuration error: CLINIC_LOG_FORMAT must be text or json, not {chosen!r}"
        )
    # Neither format shows the caller, thread or process: not looked up per record.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(MaskingFilter())
    if chosen == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"{service}: %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The twilio client logs each request's headers and answer at INFO: ten lines a text.
    for noisy in ("kafka", "aiokafka", "faust", "mode", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python warns "Exchanging credentials in the clear" at every SCRAM login over
    # SASL_PLAINTEXT, though SCRAM never sends the password; which protocol is used on
    # which network is the deployment's choice (docs/deploy.md), said once, not per login.
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    # kafka-python 3 warns whenever one of its own network tasks runs over 100 ms (a busy
    # machine, a large fetch): a note about its event loop, nothing a person can act on.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
