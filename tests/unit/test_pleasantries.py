"""The pleasantry classifier: what opens no ticket, and everything that must."""

from __future__ import annotations

import pytest

from bot.pleasantries import is_pleasantry

PLEASANTRIES = [
    "thanks", "thank you!", "thx", "ok", "okay", "got it", "great, thanks", "hello", "hi all", "kiitos", "kiitti",
    "moi", "👍", "🙏", ":+1:", "Thanks <@U0OLLI>!", "Kiitos paljon avusta!", "Works now, thanks a lot 🙌", "👍🏽",
    "ok :thumbsup::skin-tone-3:", "Hyvää viikonloppua!", "thanks for the quick help", "Good morning everyone",
    "Kiitos nopeasta avusta", "ok kiitos", "Moikka kaikille", "THANK YOU SO MUCH!!!", "cheers, have a nice weekend",
]

REQUESTS = [
    "thanks, but it is still broken", "ok so the VPN is down again", "hi, is the VPN down?", "thanks?",
    "VPN down", "hello, printer broken", "kiitos, mutta ei toimi", "ok, not yet", "help", "need help",
    "it is not working thanks", "ok the same error again :rotating_light:", "🔥", "🚨🚨", ":sos:",
    "Hei, tulostin ei toimi", "moi, voisitteko lisätä käyttäjän", "hi all, can someone reset my password",
    "thanks! also please add Pekka to the VPN group", "ok https://status.example.com shows red",
    "thanks " * 13,
]


@pytest.mark.parametrize("text", PLEASANTRIES)
def test_pleasantries_open_nothing(text: str) -> None:
    assert is_pleasantry(text)


@pytest.mark.parametrize("text", REQUESTS)
def test_a_question_a_problem_or_a_request_is_never_a_pleasantry(text: str) -> None:
    assert not is_pleasantry(text)


def test_a_message_with_a_file_is_never_a_pleasantry() -> None:
    assert is_pleasantry("thanks")
    assert not is_pleasantry("thanks", has_files=True)
