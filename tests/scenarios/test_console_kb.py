"""The knowledge base in chat: suggestions in the acknowledgement, "solved it", drafts from tickets."""

from __future__ import annotations

from pathlib import Path

from bot.clock import FakeClock
from kb import service as kb_service
from storage.models import AuditEvent, KbArticle, KbFeedback
from tests.scenarios.console_driver import ConsoleWorld

ARTICLE = """---
id: vpn-reconnect
title: VPN keeps disconnecting
tags: [vpn, network]
---
If the VPN client disconnects every few minutes, update the client and switch the protocol to IKEv2.
"""


async def test_suggestion_solved_it_and_draft(database: str, clock: FakeClock, tmp_path: Path) -> None:
    (tmp_path / "vpn.md").write_text(ARTICLE)
    await kb_service.import_paths([tmp_path])
    world = ConsoleWorld(clock)
    customer = await world.person("customer:ACME")
    await customer.say("Hello! Our VPN keeps disconnecting every few minutes. Best regards, Anna")
    ack = next(s for s in world.take() if s.startswith("[#ACME › ACME-1]"))
    assert "VPN keeps disconnecting" in ack and "/helpdesk kb solved ACME-1 vpn-reconnect" in ack

    await customer.say("/helpdesk kb solved ACME-1 vpn-reconnect")
    seen = world.take()
    assert "Glad the article helped" in seen[0]
    assert any(s.startswith("[#triage]") and "vpn-reconnect solved it" in s for s in seen)
    assert await KbFeedback.filter(article_id="vpn-reconnect").count() == 1
    await customer.say("/helpdesk kb solved ACME-1 vpn-reconnect")
    assert "Already noted" in world.take()[0]

    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk kb draft ACME-1")
    assert "not resolved yet" in world.take()[0]
    await olli.say("/helpdesk resolve ACME-1 Switched the client to IKEv2")
    world.take()
    await olli.say("/helpdesk kb draft ACME-1")
    assert "Draft article" in world.take()[0]
    draft = await KbArticle.get(draft=True)
    assert "IKEv2" in draft.body and "disconnecting" in draft.body
    assert await AuditEvent.filter(action="kb_draft").count() == 1

    await customer.say(":top")
    await customer.say("thanks!")
    assert world.take() == []  # a pleasantry opens no ticket and gets no suggestion
    await customer.say("The printer on floor 2 prints blank pages")
    ack = next(s for s in world.take() if "ACME-2" in s and s.startswith("[#ACME"))
    assert "articles may help" not in ack  # nothing relevant, and drafts are never suggested
    await customer.say("/helpdesk kb vpn disconnecting")
    assert "VPN keeps disconnecting" in world.take()[0]
