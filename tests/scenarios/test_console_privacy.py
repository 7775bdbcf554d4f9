"""Privacy through the console: export by DM, erasure by a lead, notification consent."""

from __future__ import annotations

import json

from bot.clock import FakeClock
from storage.models import AuditEvent, Contact, Message
from tests.scenarios.console_driver import ConsoleWorld


async def test_export_erase_and_consent(database: str, clock: FakeClock) -> None:
    world = ConsoleWorld(clock)
    acme = await world.person("customer:ACME")
    await acme.say("My laptop from ACME contact-acme is broken")
    await acme.say("/helpdesk privacy export")
    seen = world.take()
    assert "Your data export is on its way" in seen[-2]
    dm = seen[-1]
    assert dm.startswith("[DM to contact-acme]")
    data = json.loads(dm.split("```", 1)[1].rsplit("```", 1)[0])
    assert data["tickets"][0]["key"] == "ACME-1"
    assert data["messages"][0]["text"].startswith("My laptop")

    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk privacy erase contact-acme")
    assert "only a lead can erase" in world.take()[-1]
    await acme.say("/helpdesk privacy notifications off")
    assert "Notifications off" in world.take()[-1]
    assert not (await Contact.get()).notifications

    lead = await world.person("lead:maija")
    await lead.say("/helpdesk privacy erase contact-acme")
    assert "erased contact" in world.take()[-1]
    contact = await Contact.get()
    assert contact.erased_at is not None and contact.user_id.startswith("erased:")
    message = await Message.get(author_contact_id=contact.id)
    assert "contact-acme" not in message.text and message.author_name == f"erased contact {contact.id}"
    assert await AuditEvent.filter(action="privacy_erase").count() == 1
    assert await AuditEvent.filter(action="privacy_export").count() == 1
    # the ticket history stays readable
    await lead.say("/helpdesk show ACME-1")
    assert "ACME-1" in world.take()[-1]
