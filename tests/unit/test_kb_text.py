"""kb/text.py: words, stop words in English and Finnish, language, stems, chat pleasantries."""

from __future__ import annotations

import pytest

from kb import text


def test_tokens_are_case_folded_without_urls_markup_or_apostrophes() -> None:
    assert text.tokens("Don't open <b>HTTPS://evil.example.com/x</b> or mail olli@example.com!") == [
        "dont",
        "open",
        "or",
        "mail",
    ]


def test_tokens_of_fields_match_tokens_of_each_field() -> None:
    fields = ["VPN error 809", "", "Käynnistä asiakasohjelma uudelleen.\n\nSee https://x.example"]
    assert text.tokens_of_fields(*fields) == [text.tokens(f) for f in fields]


@pytest.mark.parametrize(
    "sentence",
    ["Thanks a lot!", "Hi team", "ok, thank you so much", "Kiitos paljon!", "Moi, mitä se on?", "the and of"],
)
def test_pleasantries_and_stop_words_leave_nothing(sentence: str) -> None:
    assert text.analyze(sentence) == []


def test_finnish_stop_words_are_dropped() -> None:
    assert text.content_words(text.tokens("Miten minä voin vaihtaa salasanan, kun se on vanhentunut?")) == [
        "vaihtaa",
        "salasanan",
        "vanhentunut",
    ]


@pytest.mark.parametrize(
    ("sentence", "language"),
    [
        ("How do I reset the password on my phone?", "en"),
        ("Miten voin vaihtaa salasanan puhelimessa?", "fi"),
        ("VPN 809", "en"),  # no function words at all: English by default
    ],
)
def test_language_is_told_by_function_words(sentence: str, language: str) -> None:
    assert text.detect_language(text.tokens(sentence)) == language


def test_english_stems_join_inflections() -> None:
    assert text.stems(["passwords", "printing", "printed", "connection"], "en") == [
        "password",
        "print",
        "print",
        "connect",
    ]


def test_finnish_stems_join_case_endings() -> None:
    assert len(set(text.stems(["tulostimen", "tulostimeen", "tulostimessa"], "fi"))) == 1
    assert text.analyze("Tulostimessa on paperi jumissa") == text.terms(["tulostimessa", "paperi", "jumissa"], "fi")


def test_stem_cache_survives_being_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "_STEM_CACHE_SIZE", 3)
    words = ["printers", "printing", "mailboxes", "certificates", "printers"]
    assert text.stems(words, "en") == ["printer", "print", "mailbox", "certif", "printer"]


def test_greeting_and_signature_are_stripped_from_a_message() -> None:
    message = "Hi Olli,\n\nmy VPN says error 809.\nIt worked yesterday.\n\nThanks,\nMatti Meikäläinen\nAcme Oy"
    assert text.strip_message(message).strip() == "my VPN says error 809.\nIt worked yesterday."
    finnish = "Hei!\nTulostin ei tulosta.\n\nYstävällisin terveisin\nMaija"
    assert text.strip_message(finnish).strip() == "Tulostin ei tulosta."


@pytest.mark.parametrize(
    "message", ["Hello world program crashes", "Hi I cant log in to Outlook", "Best practice for VPN?"]
)
def test_a_message_that_only_starts_like_a_greeting_is_kept(message: str) -> None:
    assert text.strip_message(message) == message
