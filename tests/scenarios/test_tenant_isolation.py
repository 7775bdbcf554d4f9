"""No command by a contact of one customer ever returns or posts another customer's data."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FakeClock
from bot.commands import BY_NAME
from bot.core import Helpdesk
from bot.types import Actor, IncomingMessage, Invocation, Place, Platform
from storage.models import OutboxMessage
from tests.conftest import MONDAY_9_HELSINKI

SECRET = "ACME-SECRET-PAYROLL"

arguments = st.sampled_from([
    "ACME-1", "ACME-2", "GLOBEX-1", "ACME", "GLOBEX", "@olli", "<@U0OLLI>", "P1", "6h", "5", "in_progress",
    "change_request", "export", "erase", "notifications", "off", "draft", "x", "PAYROLL",
])
commands = st.tuples(st.sampled_from(sorted(BY_NAME)), st.lists(arguments, max_size=4)).map(
    lambda t: " ".join([t[0], *t[1]])
)


async def _post(desk: Helpdesk, customer: str, user: str, text: str) -> None:
    channel = {"ACME": "C0ACME", "GLOBEX": "C0GLOBEX"}[customer]
    msg_id = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6:06d}"
    await desk.handle_message(IncomingMessage(
        event_id=f"Ev{uuid.uuid4().hex}", actor=Actor(Platform.SLACK, f"T0{customer}", user),
        place=Place(Platform.SLACK, "T0HOME", channel), message_id=msg_id, text=text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(commands, min_size=1, max_size=6))
async def test_globex_contact_never_sees_acme(database: str, texts: list[str]) -> None:
    desk = Helpdesk(clock=FakeClock(MONDAY_9_HELSINKI))
    if not await OutboxMessage.filter(ticket_key="ACME-1").exists():
        await _post(desk, "ACME", "UACME1", f"{SECRET} numbers are wrong")
        await _post(desk, "ACME", "UACME1", f"{SECRET} again")
        await _post(desk, "GLOBEX", "UGLOBEX1", "Globex printer")
    before = {r.id for r in await OutboxMessage.all()}
    for text in texts:
        outcome = await desk.handle_invocation(Invocation(
            event_id=f"Ev{uuid.uuid4().hex}", actor=Actor(Platform.SLACK, "T0GLOBEX", "UGLOBEX1"),
            place=Place(Platform.SLACK, "T0HOME", "C0GLOBEX"), text=text))
        for reply in outcome.replies:
            blob = str(reply)
            assert "numbers are wrong" not in blob and "Acme" not in blob and SECRET not in blob, (text, blob)
    for row in await OutboxMessage.exclude(id__in=list(before) or [0]):
        assert row.ticket_key is None or not row.ticket_key.startswith("ACME"), (texts, row.payload)
        assert "numbers are wrong" not in str(row.payload)
