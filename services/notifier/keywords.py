"""What an inbound text asks for: opt out, opt back in, help, or something a person must read.

Twilio's own keywords (a message that is exactly one of them, any case,
surrounding spaces and punctuation ignored), and their French equivalents.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"
    OTHER = "other"


OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "ARRET"}
)
OPT_IN = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP = frozenset({"HELP", "INFO", "AIDE"})


@dataclass(frozen=True)
class Keyword:
    """The intent of a text and the keyword that carried it (None for :attr:`Intent.OTHER`)."""

    intent: Intent
    word: str | None = None


def classify(body: str) -> Keyword:
    """Read a text as Twilio does: the whole message must be the keyword."""
    word = _normalise(body)
    for intent, words in ((Intent.OPT_OUT, OPT_OUT), (Intent.OPT_IN, OPT_IN), (Intent.HELP, HELP)):
        if word in words:
            return Keyword(intent, word)
    return Keyword(Intent.OTHER)


def _normalise(body: str) -> str:
    # "Arrêt." and " stop! " are the keywords too; accents are dropped, case ignored.
    decomposed = unicodedata.normalize("NFKD", body.strip().strip(".!?").strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
