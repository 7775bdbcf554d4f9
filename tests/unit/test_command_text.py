"""Commands in the core's texts reach each platform in its own syntax."""

from __future__ import annotations

import re

from adapters.console.render import render as console_render
from adapters.teams.render import card, message
from bot.commands import ParseError, help_text, parse
from bot.commandtext import render_commands
from bot.types import Destination, Field, Platform, Reply


def test_quoted_commands_take_the_platform_prefix() -> None:
    text = "Type `/helpdesk help` for the list. Did you mean `/helpdesk claim ACME-1`?"
    assert render_commands(text, "@Helpdesk") == \
        "Type `@Helpdesk help` for the list. Did you mean `@Helpdesk claim ACME-1`?"
    assert render_commands("see https://x.example/helpdesk/faq", "@Helpdesk") == "see https://x.example/helpdesk/faq"


def teams_texts(activity: dict[str, object]) -> str:
    return str(activity)


def test_teams_never_tells_a_user_slack_syntax() -> None:
    replies = [Reply(help_text(None)), Reply(help_text("assign")),
               Reply("ACME-1", title="ACME-1", fields=(Field("Next", "`/helpdesk rate ACME-1 5`"),))]
    for bad in ("asign ACME-1 @olli", "priority", "show"):
        try:
            parse(bad)
        except ParseError as exc:
            replies.append(Reply(exc.message))
    destination = Destination(platform=Platform.TEAMS, tenant="t", channel="19:triage@thread.tacv2")
    for reply in replies:
        rendered = teams_texts(message(reply, destination)) + teams_texts(card(reply))
        assert "/helpdesk" not in rendered, rendered
        assert "@Helpdesk" in rendered
    # Slack and the console keep the slash command.
    assert "`/helpdesk help <command>`" in console_render(Reply(help_text(None)), "triage")
    assert re.search(r"`/helpdesk assign ", console_render(Reply(help_text("assign")), "triage"))
