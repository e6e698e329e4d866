"""Reading an inbound text as Twilio does: the whole message is the keyword."""

from __future__ import annotations

import pytest

from services.notifier.keywords import Intent, Keyword, classify


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", Keyword(Intent.OPT_OUT, "STOP")),
        (" stop ", Keyword(Intent.OPT_OUT, "STOP")),
        ("Unsubscribe.", Keyword(Intent.OPT_OUT, "UNSUBSCRIBE")),
        ("quit", Keyword(Intent.OPT_OUT, "QUIT")),
        ("Arrêt", Keyword(Intent.OPT_OUT, "ARRET")),
        ("STOPALL", Keyword(Intent.OPT_OUT, "STOPALL")),
        ("start", Keyword(Intent.OPT_IN, "START")),
        ("Yes!", Keyword(Intent.OPT_IN, "YES")),
        ("UNSTOP", Keyword(Intent.OPT_IN, "UNSTOP")),
        ("help", Keyword(Intent.HELP, "HELP")),
        ("Aide", Keyword(Intent.HELP, "AIDE")),
    ],
)
def test_keywords(body: str, expected: Keyword) -> None:
    assert classify(body) == expected


@pytest.mark.parametrize("body", ["Please stop", "Can I move my appointment?", "", "STOP IT"])
def test_anything_else_needs_a_person(body: str) -> None:
    assert classify(body) == Keyword(Intent.OTHER)
