"""The words a patient may text back: Twilio's reserved keywords, and the words that confirm
an appointment or ask to rearrange it, per clinic and language.

Twilio acts on its reserved words itself (on long codes and toll-free numbers),
whatever the platform does: a patient told to reply CANCEL to cancel the
appointment is unsubscribed instead. So a reserved word keeps its meaning here
too, and a clinic cannot make one confirm or rearrange.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator

OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "ARRET"}
)
OPT_IN = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP = frozenset({"HELP", "INFO", "AIDE"})
RESERVED = OPT_OUT | OPT_IN | HELP
"""Twilio's keywords (with its advanced opt-out words) and their French equivalents."""


def normalise(body: str) -> str:
    """A text as keywords are compared: trimmed, end punctuation, accents and case dropped.

    "Arrêt." and " stop! " are the keywords ARRET and STOP; "c" is "C".
    """
    decomposed = unicodedata.normalize("NFKD", body.strip().strip(".!?").strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _from_yaml(value: object) -> object:
    if isinstance(value, bool):  # YAML reads an unquoted yes, no, on, off as a boolean
        raise ValueError(
            f"{value!r} is a YAML boolean (yes, no, on, off unquoted): quote the word "
            "(and YES, Twilio's opt-in keyword, can never be one)"
        )
    return str(value) if isinstance(value, int) else value


def _reply_word(value: str) -> str:
    word = normalise(value)
    if not word or len(word) > 20 or any(ch.isspace() for ch in word):
        raise ValueError(f"{value!r} is not a reply word: use one word of 1-20 characters")
    if word in RESERVED:
        meaning = "opt-out" if word in OPT_OUT else "opt-in" if word in OPT_IN else "help"
        raise ValueError(
            f"{value!r} is a reserved {meaning} keyword: Twilio acts on it itself, "
            "so it can never confirm or rearrange an appointment; choose another word"
        )
    return word


ReplyWord = Annotated[str, BeforeValidator(_from_yaml), AfterValidator(_reply_word)]


class ReplyWords(BaseModel):
    """What a patient replies to confirm, or to ask to rearrange; the first of each is the
    one the reminders offer ("Reply C to confirm or R to rearrange")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    confirm: tuple[ReplyWord, ...]
    rearrange: tuple[ReplyWord, ...]

    @model_validator(mode="after")
    def _apart(self) -> ReplyWords:
        if not (self.confirm and self.rearrange):
            raise ValueError("confirm and rearrange need a word each")
        if both := sorted(set(self.confirm) & set(self.rearrange)):
            raise ValueError(f"{', '.join(both)} cannot both confirm and rearrange")
        return self


DEFAULT_WORDS = ReplyWords(confirm=("C", "1"), rearrange=("R", "2"))
"""English: C (or 1) confirms, R (or 2) asks to rearrange."""
DEFAULTS: dict[str, ReplyWords] = {
    "en": DEFAULT_WORDS,
    "fr": ReplyWords(confirm=("C", "1"), rearrange=("R", "2")),  # confirmer, reporter
}


def words_for(locale: str, own: dict[str, ReplyWords] | None = None) -> ReplyWords:
    """The reply words of a patient's ``locale`` (``fr-FR``): a clinic's own for that locale
    or its language, else the platform's for the language, else the English ones."""
    language = locale.split("-")[0]
    own = own or {}
    return own.get(locale) or own.get(language) or DEFAULTS.get(language) or DEFAULT_WORDS
