"""What an inbound text asks for: opt out, opt back in, help, confirm, rearrange, or
something a person must read.

The whole message must be the word (any case, surrounding spaces and end
punctuation ignored), as Twilio reads its own keywords. Twilio's reserved words
are read first and keep their meaning; then the clinic's words for the patient's
language (:mod:`services.shared.reply_words`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.shared.reply_words import DEFAULT_WORDS, HELP, OPT_IN, OPT_OUT, ReplyWords, normalise


class Intent(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"
    CONFIRM = "confirm"
    REARRANGE = "rearrange"
    OTHER = "other"


@dataclass(frozen=True)
class Keyword:
    """The intent of a text and the word that carried it (None for :attr:`Intent.OTHER`)."""

    intent: Intent
    word: str | None = None


def classify(body: str, words: ReplyWords = DEFAULT_WORDS) -> Keyword:
    """Read a text as Twilio does, then as the clinic's ``words`` say."""
    word = normalise(body)
    for intent, known in (
        (Intent.OPT_OUT, OPT_OUT),
        (Intent.OPT_IN, OPT_IN),
        (Intent.HELP, HELP),
        (Intent.CONFIRM, frozenset(words.confirm)),
        (Intent.REARRANGE, frozenset(words.rearrange)),
    ):
        if word in known:
            return Keyword(intent, word)
    return Keyword(Intent.OTHER)
