"""Reply -> Teams message activities and Adaptive Cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from adapters.teams.render import CARD_CONTENT_TYPE, card, markdown, message
from adapters.teams.sender import delivery_error
from bot.types import Audience, Button, Destination, Field, Platform, Reply
from storage.retry import retry_after

CUSTOMER_THREAD = Destination(Platform.TEAMS, "t", "19:acme@thread.tacv2", "1", customer_visible=True)
TRIAGE = Destination(Platform.TEAMS, "t", "19:triage@thread.tacv2")


def announcement() -> Reply:
    return Reply("New ticket ACME-7 from Acme Oy: VPN down", title="ACME-7: VPN down",
                 fields=(Field("Customer", "Acme Oy"), Field("Priority", "P3")),
                 buttons=(Button("Claim", "claim ACME-7", style="primary"),
                          Button("Assign", "assign ACME-7", needs_input="Assign to (e.g. @olli)"),
                          Button("Close", "close ACME-7", style="danger")),
                 audience=Audience.TRIAGE, internal=True, kind="notice")


def test_plain_reply_is_markdown_text() -> None:
    activity = message(Reply("Thanks, this is *ACME-1*. See <https://kb.example/vpn|VPN guide>"), CUSTOMER_THREAD)
    assert activity == {"type": "message", "textFormat": "markdown",
                        "text": "Thanks, this is **ACME-1**. See [VPN guide](https://kb.example/vpn)"}


def test_card_has_title_text_facts_and_submit_actions() -> None:
    activity = message(announcement(), TRIAGE)
    assert "text" not in activity  # Teams splits text + attachment into two messages
    assert activity["summary"] == "ACME-7: VPN down"
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    content = attachment["content"]
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.5")
    title, text, facts = content["body"]
    assert title["text"] == "ACME-7: VPN down" and title["weight"] == "Bolder"
    assert text["text"].startswith("New ticket ACME-7")
    assert facts == {"type": "FactSet", "facts": [{"title": "Customer", "value": "Acme Oy"},
                                                  {"title": "Priority", "value": "P3"}]}
    claim, assign, close = content["actions"]
    assert claim == {"type": "Action.Submit", "title": "Claim", "data": {"command": "claim ACME-7"},
                     "style": "positive"}
    assert close["style"] == "destructive"
    assert assign["type"] == "Action.ShowCard" and assign["title"] == "Assign"
    [field] = assign["card"]["body"]
    assert field["type"] == "Input.Text" and field["id"] == "input" and field["isRequired"]
    assert field["label"] == "Assign to (e.g. @olli)"
    [submit] = assign["card"]["actions"]
    assert submit["type"] == "Action.Submit" and submit["data"] == {"command": "assign ACME-7"}


def test_card_without_buttons_has_no_actions() -> None:
    content = card(Reply("SLA for ACME-1", fields=(Field("first response", "30 min left"),)))
    assert "actions" not in content
    assert [b["type"] for b in content["body"]] == ["TextBlock", "FactSet"]


def test_long_summary_is_shortened() -> None:
    activity = message(Reply("x" * 500, fields=(Field("a", "b"),)), TRIAGE)
    assert len(activity["summary"]) == 200 and activity["summary"].endswith("…")


def test_markdown_leaves_plain_asterisks_alone() -> None:
    assert markdown("2 * 3 * 4 and *bold* and **already**") == "2 * 3 * 4 and **bold** and **already**"


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert retry_after("7") == 7.0
    assert retry_after("1.5") == 1.5
    assert retry_after(None) is None and retry_after("soon") is None
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after(later, now) == 30.0


def _http_error(status: int, headers: dict[str, str] | None = None) -> Any:
    error = Exception("connector said no")
    error.response = SimpleNamespace(status_code=status, headers=headers or {})  # type: ignore[attr-defined]
    return error


def test_connector_failures_map_to_delivery_errors() -> None:
    throttled = delivery_error(_http_error(429, {"Retry-After": "12"}), "post")
    assert (throttled.retry_after, throttled.permanent) == (12.0, False)
    busy = delivery_error(_http_error(503), "post")
    assert (busy.retry_after, busy.permanent) == (None, False)
    forbidden = delivery_error(_http_error(403), "post")
    assert forbidden.permanent
    unreachable = delivery_error(ConnectionError("refused"), "post")
    assert not unreachable.permanent and "unreachable" in str(unreachable)
