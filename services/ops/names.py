"""Short topic names ops people type, resolved to the platform's full topic names."""

from __future__ import annotations

from services.shared.topics import Topics

SHORT_NAMES = (
    "bookings",
    "bookings-dlq",
    "due",
    "ticks",
    "status",
    "notifications-dlq",
    "consent",
    "replies",
)


def resolve_topic(name: str, topics: Topics) -> str:
    """``due`` -> ``{prefix}clinic.reminders.due.v1``; any other name is taken as given.

    Raises ``ValueError`` naming the argument when ``name`` is empty.
    """
    if not name.strip():
        raise ValueError("TOPIC: give a short name (bookings, due, status, ...) or a topic")
    if name in SHORT_NAMES:
        return str(getattr(topics, name.replace("-", "_")))
    return name


def short_name(topic: str, topics: Topics) -> str | None:
    """The short name of one of the platform's topics, or None for any other."""
    for name in SHORT_NAMES:
        if resolve_topic(name, topics) == topic:
            return name
    return None
