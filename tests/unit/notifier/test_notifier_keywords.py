"""Reading an inbound text as Twilio does (the whole message is the keyword), then with the
clinic's own words to confirm or rearrange; reserved words cannot be a clinic's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notifier.patients.keywords import Intent, Keyword, classify
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.reply_words import ReplyWords


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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("C", Keyword(Intent.CONFIRM, "C")),
        (" c. ", Keyword(Intent.CONFIRM, "C")),
        ("1", Keyword(Intent.CONFIRM, "1")),
        ("R", Keyword(Intent.REARRANGE, "R")),
        ("r!", Keyword(Intent.REARRANGE, "R")),
        ("2", Keyword(Intent.REARRANGE, "2")),
        ("CANCEL", Keyword(Intent.OPT_OUT, "CANCEL")),
        ("C please", Keyword(Intent.OTHER)),
    ],
)
def test_by_default_c_or_1_confirms_and_r_or_2_asks_to_rearrange(
    body: str, expected: Keyword
) -> None:
    assert classify(body) == expected


def test_a_clinic_reads_replies_with_its_own_words_per_language() -> None:
    clinic = ClinicInfo(
        name="Dr Jenny",
        replies={
            "en-GB": ReplyWords(confirm=("ok", "C"), rearrange=("move",)),
            "fr": ReplyWords(confirm=("oui",), rearrange=("déplacer",)),
        },
    )
    english, french = clinic.reply_words("en-GB"), clinic.reply_words("fr-FR")
    assert classify("OK", english) == Keyword(Intent.CONFIRM, "OK")
    assert classify("move", english) == Keyword(Intent.REARRANGE, "MOVE")
    assert classify("R", english) == Keyword(Intent.OTHER)
    assert classify("Oui", french) == Keyword(Intent.CONFIRM, "OUI")
    assert classify("Déplacer", french) == Keyword(Intent.REARRANGE, "DEPLACER")
    assert classify("OK", french) == Keyword(Intent.OTHER)
    assert classify("C", clinic.reply_words("de-DE")) == Keyword(Intent.CONFIRM, "C")
    assert classify("arrêt", french) == Keyword(Intent.OPT_OUT, "ARRET")


def test_french_patients_have_sensible_defaults() -> None:
    french = ClinicInfo(name="Cabinet").reply_words("fr-FR")
    assert (french.confirm[0], french.rearrange[0]) == ("C", "R")


@pytest.mark.parametrize(
    "word", ["STOP", "cancel", "Cancel.", "END", "quit", "START", "yes", "UNSTOP", "help", "INFO"]
)
def test_a_clinic_cannot_make_a_reserved_word_confirm_or_rearrange(word: str) -> None:
    with pytest.raises(ValidationError, match=r"reserved .* keyword: Twilio acts on it itself"):
        ReplyWords(confirm=(word,), rearrange=("R",))
    with pytest.raises(ValidationError, match="reserved"):
        ReplyWords(confirm=("C",), rearrange=(word,))


def test_the_clinics_file_refuses_a_reserved_reply_word_naming_the_clinic(tmp_path: Path) -> None:
    path = tmp_path / "clinics.yaml"
    path.write_text(
        "dr-jenny:\n  name: Dr Jenny\n  replies:\n"
        '    en-GB: {confirm: ["YES", 1], rearrange: [CANCEL]}\n'
    )
    with pytest.raises(ValueError, match="clinic 'dr-jenny'") as refused:
        ClinicDirectory.from_yaml(path)
    message = str(refused.value)
    assert "'YES' is a reserved opt-in keyword" in message
    assert "'CANCEL' is a reserved opt-out keyword" in message


def test_a_word_cannot_both_confirm_and_rearrange() -> None:
    with pytest.raises(ValidationError, match="C cannot both confirm and rearrange"):
        ReplyWords(confirm=("C",), rearrange=("c", "R"))
    with pytest.raises(ValidationError, match="not a reply word"):
        ReplyWords(confirm=("see you",), rearrange=("R",))


def test_an_unquoted_yaml_yes_is_refused_and_a_digit_is_a_word(tmp_path: Path) -> None:
    path = tmp_path / "clinics.yaml"
    path.write_text("c:\n  name: C\n  replies:\n    en: {confirm: [yes], rearrange: [R]}\n")
    with pytest.raises(ValueError, match="YAML boolean"):
        ClinicDirectory.from_yaml(path)
    path.write_text("c:\n  name: C\n  replies:\n    en: {confirm: [1, C], rearrange: [2]}\n")
    words = ClinicDirectory.from_yaml(path).get("c").reply_words("en-GB")
    assert (words.confirm, words.rearrange) == (("1", "C"), ("2",))
