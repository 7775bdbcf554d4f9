"""Every command, given by every kind of person in every kind of place, never puts agents-only content
(notes, SLA internals, reports, contract data, queues, other customers' data) where a customer reads it:
not queued for a customer-visible destination, not answered in a customer-visible place.

Which places customers read is decided here from the test's own knowledge of the org, not from the
flags the core sets, so a wrong classification in the core fails the test."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FakeClock
from bot.commands import BY_NAME
from bot.core import Helpdesk
from bot.types import Actor, IncomingMessage, Invocation, Place, Platform, Reply
from storage.models import OutboxMessage
from tests.conftest import MONDAY_9_HELSINKI

TENANT = "6f1c2a4e-0d3b-4c8e-9a57-2b1e8d4f0acd"
NOTE = "SECRETNOTE-gateway-firmware"
ROOT = "1795417201.000100"

# Markers of agents-only content in what chatdesk says.
AGENTS_ONLY = (NOTE, "Internal note", "SLA for", "First response due", "Resolution due", "Next response due",
               "Open per person", "targets", "Contract", "first things first", "queue order", "is now assigned to",
               "assigned ACME", "warning at", "Account manager", "Support team", "goes to them by direct message",
               "gold", "silver")

# name -> (place, customer-visible according to the org config, which customer's place it is)
PLACES: dict[str, tuple[Place, bool, str | None]] = {
    "slack customer thread": (Place(Platform.SLACK, "T0HOME", "C0ACME", ROOT), True, "ACME"),
    "slack customer channel": (Place(Platform.SLACK, "T0HOME", "C0ACME"), True, "ACME"),
    "slack triage": (Place(Platform.SLACK, "T0HOME", "C0TRIAGE"), False, None),
    "slack 1:1": (Place(Platform.SLACK, "T0HOME", "D0DIRECT", is_direct=True), False, None),
    "slack group dm": (Place(Platform.SLACK, "T0HOME", "G0MPIM"), True, None),
    "teams customer thread": (Place(Platform.TEAMS, TENANT, "19:acme@thread.tacv2", "1795417200123"), True, "ACME"),
    "teams triage": (Place(Platform.TEAMS, TENANT, "19:triage@thread.tacv2", "1795419000001"), False, None),
    "teams 1:1": (Place(Platform.TEAMS, TENANT, "a:1personal", is_direct=True), False, None),
    "teams group, members unknown": (Place(Platform.TEAMS, TENANT, "19:g1@thread.v2"), True, None),
    "teams group with a contact": (Place(Platform.TEAMS, TENANT, "19:g2@thread.v2",
                                         members=("29:olli|aad-olli", "29:acme-contact")), True, None),
    "teams group of staff": (Place(Platform.TEAMS, TENANT, "19:g3@thread.v2",
                                   members=("29:olli", "29:lead", "29:sanna")), False, None),
    "console customer": (Place(Platform.CONSOLE, "console", "ACME"), True, "ACME"),
    "console triage": (Place(Platform.CONSOLE, "console", "triage"), False, None),
}
CUSTOMER_CHANNELS = {"C0ACME": "ACME", "C0GLOBEX": "GLOBEX", "19:acme@thread.tacv2": "ACME",
                     "19:globex@thread.tacv2": "GLOBEX", "ACME": "ACME", "GLOBEX": "GLOBEX",
                     "19:g1@thread.v2": None, "19:g2@thread.v2": None, "G0MPIM": None}
CONTACT_USERS = {"UACME1": "ACME", "UGLOBEX1": "GLOBEX", "29:acme-contact": "ACME"}
WHISPERING = {Platform.SLACK, Platform.CONSOLE}  # answers to a command only the asker sees there

ACTORS = {
    Platform.SLACK: {"olli": Actor(Platform.SLACK, "T0HOME", "U0OLLI"), "maija": Actor(Platform.SLACK, "T0HOME", "U0LEAD"),
                     "contact": Actor(Platform.SLACK, "T0ACME", "UACME1", display_name="Aino")},
    Platform.TEAMS: {"olli": Actor(Platform.TEAMS, TENANT, "29:olli"), "maija": Actor(Platform.TEAMS, TENANT, "29:lead"),
                     "contact": Actor(Platform.TEAMS, TENANT, "29:acme-contact", display_name="Aino")},
    Platform.CONSOLE: {"olli": Actor(Platform.CONSOLE, "console", "olli"),
                       "maija": Actor(Platform.CONSOLE, "console", "maija"),
                       "contact": Actor(Platform.CONSOLE, "console", "contact-acme", display_name="Aino")},
}

arguments = st.sampled_from([
    "ACME-1", "ACME-2", "GLOBEX-1", "ACME", "GLOBEX", "@olli", "@maija", "<@U0OLLI>", "P1", "6h", "5",
    "in_progress", "delivered_to_test", "change_request", "implementation", "export", "erase", "notifications",
    "off", "text", "contact:1",
])
commands = st.one_of(
    st.tuples(st.sampled_from(sorted(BY_NAME)), st.lists(arguments, max_size=3)).map(lambda t: " ".join([t[0], *t[1]])),
    st.sampled_from(["sla ACME-1", "report", "customer ACME", "customer GLOBEX", "queue", "queue @olli",
                     "show ACME-1", "show GLOBEX-1", f"note ACME-1 {NOTE}", "claim ACME-1", "assign ACME-1 @sanna",
                     "priority ACME-1 P2", "rank @olli ACME-1", "handover ACME-1 implementation", "help",
                     "privacy export contact:1", "kb vpn"]),
)
# What was typed in each customer's own places since the database was set up (Hypothesis runs its
# examples on one database): an agent's title "notifications GLOBEX-1" for an ACME ticket, shown
# in ACME's queue later, is their own words, not Globex's data.
TYPED: dict[str | None, str] = {}
steps = st.tuples(st.sampled_from(sorted(PLACES)), st.sampled_from(["olli", "maija", "contact"]), commands)


def _blob(reply: Reply | dict[str, Any]) -> str:
    return json.dumps(reply.to_json() if isinstance(reply, Reply) else reply, ensure_ascii=False)


def _leaks(blob: str, customer: str | None, typed: str = "") -> list[str]:
    found = [m for m in AGENTS_ONLY if m in blob]
    for word in typed.split():  # the asker's own words echoed back ("no ticket GLOBEX-1") are no leak
        blob = blob.replace(word, "")
    other = {"ACME": ("Globex", "GLOBEX-"), "GLOBEX": ("Acme", "ACME-")}.get(customer or "", ())
    return found + [m for m in other if m in blob]


async def _setup(desk: Helpdesk) -> None:
    for customer, user, channel, text in (("ACME", "UACME1", "C0ACME", "VPN drops every few minutes"),
                                          ("GLOBEX", "UGLOBEX1", "C0GLOBEX", "Globex printer is on fire")):
        await desk.handle_message(IncomingMessage(
            event_id=f"Ev{uuid.uuid4().hex}", actor=Actor(Platform.SLACK, f"T0{customer}", user, display_name="Aino"),
            place=Place(Platform.SLACK, "T0HOME", channel), message_id=ROOT if customer == "ACME" else "1.2",
            text=text))
    await desk.handle_invocation(Invocation(event_id=f"Ev{uuid.uuid4().hex}", actor=ACTORS[Platform.SLACK]["olli"],
                                            place=PLACES["slack triage"][0], text=f"note ACME-1 {NOTE}"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(steps, min_size=1, max_size=5))
async def test_no_agents_only_content_reaches_a_customer_visible_place(database: str,
                                                                       plan: list[tuple[str, str, str]]) -> None:
    desk = Helpdesk(clock=FakeClock(MONDAY_9_HELSINKI))
    if not await OutboxMessage.filter(ticket_key="ACME-1").exists():
        await _setup(desk)
        TYPED.clear()  # a fresh database: nothing typed into it yet
    before = set(await OutboxMessage.all().values_list("id", flat=True))
    typed = TYPED
    for place_name, who, text in plan:
        place, visible, customer = PLACES[place_name]
        typed[customer] = f"{typed.get(customer, '')} {text}"
        addressed = re.match(r"(?:reply|resolve)\s+(ACME|GLOBEX)-\d+\s+(.*)", text, re.S)
        if addressed and who != "contact":  # an agent's words for another customer's ticket are posted there
            typed[addressed[1]] = f"{typed.get(addressed[1], '')} {addressed[2]}"
        actor = ACTORS[place.platform][who]
        outcome = await desk.handle_invocation(Invocation(event_id=f"Ev{uuid.uuid4().hex}", actor=actor,
                                                          place=place, text=text))
        if visible and place.platform not in WHISPERING:
            for reply in outcome.replies:  # answered in the place itself, where everyone reads it
                assert not _leaks(_blob(reply), customer, typed.get(customer, "")), (place_name, who, text, reply)
    for row in await OutboxMessage.exclude(id__in=list(before) or [0]):
        dest = row.destination
        if dest.get("channel") in CUSTOMER_CHANNELS:
            customer = CUSTOMER_CHANNELS[dest["channel"]]
        elif dest.get("user") in CONTACT_USERS:
            customer = CONTACT_USERS[dest["user"]]
        else:
            continue
        # An agent's own words in the customer's channel ("new GLOBEX-1" as a title) come back there.
        assert not _leaks(_blob(row.payload), customer, typed.get(customer, "")), (plan, dest, row.payload)
