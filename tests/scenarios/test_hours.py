"""Hours through the console, Slack and Teams: logging shows the balance, the warning and the
over-bank notice reach the account manager's DM and the customer's channel once each per month
(restarts too), contacts see their own organisation's hours only, the resolution post says the
estimate and the time logged, and the billing export lists every entry.

The gold contract of tests/fixtures/org.yaml includes 20 h a month and warns at 80 %; ACME's
account manager is Maija. The fake clock stands on Monday 23 November 2026 in Helsinki.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import timelog
from bot.clock import FakeClock
from bot.config import load_config
from bot.core import Helpdesk
from bot.types import Actor, Invocation, Place, Platform
from chatdesk.cli import app
from storage import db
from storage.config_apply import apply_config
from storage.models import AuditEvent, Customer, HoursNotice, OutboxMessage, TimeEntry
from tests.conftest import ORG_YAML
from tests.scenarios.console_driver import ConsoleWorld
from tests.scenarios.slack_harness import SlackWorld, slack_world
from tests.scenarios.teams_harness import TRIAGE, TeamsWorld

WARNING_PUBLIC = "Acme Oy has used 16h of the 20h of support included in November 2026 (80 %); 4h left."
WARNING_DM = "ACME has used 80 % of its 20h hour bank for November 2026: 16h billable, 4h left (last on ACME-1)."
OVER_PUBLIC = ("Acme Oy has used 20h 30m of support in November 2026, 30m more than the 20h included; "
               "time beyond the included hours is billed separately.")
OVER_DM = "ACME is 30m over its 20h hour bank for November 2026 (20h 30m billable, last on ACME-1)."

# (what olli logs, what he is told, the notice it sends: None, "warning" or "over")
STORY = [
    ("log ACME-1 15h firewall rules", "logged 15h on ACME-1 · Acme Oy has 5h of 20h left in November", None),
    ("log ACME-1 2h nonbillable travel", "logged 2h non-billable on ACME-1 · Acme Oy has 5h of 20h left in November",
     None),
    ("log ACME-1 1h", "logged 1h on ACME-1 · Acme Oy has 4h of 20h left in November", "warning"),
    ("log ACME-1 30m", "logged 30m on ACME-1 · Acme Oy has 3h 30m of 20h left in November", None),
    ("log ACME-1 -30m logged twice", "logged -30m (correction) on ACME-1 · Acme Oy has 4h of 20h left in November",
     None),
    ("log ACME-1 30m", "logged 30m on ACME-1 · Acme Oy has 3h 30m of 20h left in November", None),
    ("log ACME-1 4h", "logged 4h on ACME-1 · Acme Oy is 30m over its 20h for November", "over"),
    ("log ACME-1 1h", "logged 1h on ACME-1 · Acme Oy is 1h 30m over its 20h for November", None),
]


@pytest.fixture
async def world(database: str, clock: FakeClock) -> ConsoleWorld:
    return ConsoleWorld(clock)


async def test_console_log_balance_and_each_notice_once(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("The VPN drops every few minutes")
    olli = await world.person("consultant:olli")
    world.take()
    for line, told, notice in STORY:
        await olli.say(f"/helpdesk {line}")
        await olli.session.flush()
        seen = world.take()
        assert seen[0] == f"[only you] chatdesk: {told}", line
        notices = sorted(seen[1:])
        if notice is None:
            assert notices == [], line
        else:
            public, dm = (WARNING_PUBLIC, WARNING_DM) if notice == "warning" else (OVER_PUBLIC, OVER_DM)
            assert [n.split("\n")[0] for n in notices] == [f"[#ACME] chatdesk: {public}",
                                                           f"[DM to maija] chatdesk: {dm}"], line
    assert await HoursNotice.filter(month="2026-11").count() == 2
    assert await AuditEvent.filter(action="time_logged").count() == len(STORY)

    # A restart (a new helpdesk, new sessions) still sends nothing twice.
    again = ConsoleWorld(world.clock)
    olli2 = await again.person("consultant:olli")
    await olli2.say("/helpdesk log ACME-1 2h")
    await olli2.session.flush()
    assert again.take() == ["[only you] chatdesk: logged 2h on ACME-1 · Acme Oy is 3h 30m over its 20h for November"]

    # A new month starts afresh: December has its own 20 h and its own notices.
    world.clock.set(datetime(2026, 11, 30, 22, 30, tzinfo=UTC))  # 00:30 on 1 December in Helsinki
    await olli.say("/helpdesk log ACME-1 17h")
    await olli.session.flush()
    seen = world.take()
    assert seen[0] == "[only you] chatdesk: logged 17h on ACME-1 · Acme Oy has 3h of 20h left in December"
    assert any(s.startswith("[#ACME] chatdesk: Acme Oy has used 17h of the 20h of support included in December")
               for s in seen)


async def test_console_listing_corrections_and_bad_input(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("Printer offline")
    olli = await world.person("consultant:olli")
    for line in ("log ACME-1 1h30m checked the spooler", "log ACME-1 45m nonbillable", "log ACME-1 -30m",
                 "log ACME-1 -2h too much", "log ACME-1 soon", "log ACME-1 30h", "log ACME-1 -30m nonbillable typo"):
        await olli.say(f"/helpdesk {line}")
    seen = world.take()[-7:]
    assert seen[0].startswith("[only you] chatdesk: logged 1h 30m on ACME-1")
    assert seen[1].startswith("[only you] chatdesk: logged 45m non-billable on ACME-1")
    assert seen[2] == "[only you] chatdesk: say why a correction is made: `/helpdesk log ACME-1 -30m logged twice`"
    assert seen[3] == ("[only you] chatdesk: ACME-1 has 1h 30m of billable time; a correction of -2h would take it "
                       "below zero")
    assert seen[4].startswith("[only you] chatdesk: 'soon' is not a duration: write 45m, 1h30m, 1.5h or 2h")
    assert "Example: `/helpdesk log ACME-7 1h30m" in seen[4]
    assert seen[5] == ("[only you] chatdesk: '30h' is more than 24 hours: log each day's work as its own entry. "
                       "Example: `/helpdesk log ACME-7 1h30m fixed the VPN profile`")
    assert seen[6].startswith("[only you] chatdesk: logged -30m non-billable (correction) on ACME-1")
    assert await TimeEntry.all().count() == 3  # the refusals stored nothing
    assert await AuditEvent.filter(action="time_logged").count() == 3

    await olli.say("/helpdesk log ACME-1")
    [listing] = world.take()
    assert listing.splitlines() == [
        "[only you] chatdesk: Time on ACME-1:",
        "  • Mon 23 Nov 09:00 · Olli · 1h 30m · billable · checked the spooler",
        "  • Mon 23 Nov 09:00 · Olli · 45m · non-billable",
        "  • Mon 23 Nov 09:00 · Olli · -30m · non-billable · typo",
        "  Total 1h 45m: 1h 30m billable, 15m non-billable",
    ]
    await customer.say("/helpdesk log ACME-1 1h")
    assert world.take() == ["[only you] chatdesk: not allowed: only consultants and leads can log time"]


async def test_console_hours_contacts_see_their_own_only(world: ConsoleWorld) -> None:
    acme = await world.person("customer:ACME")
    await acme.say("Mail is slow")
    globex = await world.person("customer:GLOBEX")
    await globex.say("Backup failed")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk log ACME-1 3h mail relay")
    await olli.say("/helpdesk log GLOBEX-1 2h restore test")
    world.take()

    await acme.say("/helpdesk hours")
    [own] = world.take()
    assert own.splitlines() == [
        "[only you] chatdesk: Acme Oy, November: 3h of 20h used, 17h left.",
        "      Included: 20h", "      Used: 3h billable", "      Left: 17h", "      Non-billable: 0m",
        "      Tickets: ACME-1 Mail is slow · 3h",
    ]
    for other in ("/helpdesk hours GLOBEX", "/helpdesk hours GLOBEX 2026-11", "/helpdesk hours NOPE"):
        await acme.say(other)
        [refused] = world.take()
        assert refused == "[only you] chatdesk: you can see your own organisation's hours only: `/helpdesk hours`"
        assert "Globex" not in refused and "restore" not in refused

    await olli.say("/helpdesk hours GLOBEX")
    [agent] = world.take()
    assert agent.startswith("[only you] chatdesk: Globex Ltd, November: 2h of 10h used, 8h left.")
    await olli.say("/helpdesk hours ACME 2026-10")
    [october] = world.take()
    assert october.startswith("[only you] chatdesk: Acme Oy, October: 0m of 20h used, 20h left.")
    assert "Tickets: none" in october
    await olli.say("/helpdesk hours")
    assert world.take() == ["[only you] chatdesk: name the customer: `/helpdesk hours ACME` (or `hours ACME 2026-11`)"]


async def test_console_rollover_shows_the_carried_hours(world: ConsoleWorld) -> None:
    globex = await world.person("customer:GLOBEX")
    await globex.say("Backup failed")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk log GLOBEX-1 4h")  # silver: 10 h a month with rollover
    world.clock.set(datetime(2026, 12, 2, 9, tzinfo=UTC))
    await olli.say("/helpdesk log GLOBEX-1 1h")
    await olli.say("/helpdesk hours GLOBEX")
    seen = world.take()
    assert seen[-2] == "[only you] chatdesk: logged 1h on GLOBEX-1 · Globex Ltd has 15h of 16h left in December"
    assert "Included: 16h (6h carried from November)" in seen[-1]
    # What the leads' board shows: each customer's hours left this month, from one grouped query.
    left = await timelog.hours_left_this_month(world.clock.now())
    assert {k: (b.month, b.included_minutes, b.remaining_minutes) for k, b in left.items()} == {
        "ACME": ("2026-12", 1200, 1200), "GLOBEX": ("2026-12", 960, 900)}
    for key, bal in left.items():
        customer = await Customer.get(key=key)
        assert bal == await timelog.customer_balance(customer, None, world.clock.now())


async def test_console_resolution_says_estimate_and_time_logged(world: ConsoleWorld) -> None:
    customer = await world.person("customer:ACME")
    await customer.say("New VPN profile for Oulu")
    olli = await world.person("consultant:olli")
    for line in ("type ACME-1 change_request", "estimate ACME-1 6h VPN profile", "log ACME-1 5h30m",
                 "log ACME-1 1h nonbillable"):
        await olli.say(f"/helpdesk {line}")
    await customer.say("/helpdesk approve ACME-1")
    world.take()
    await olli.say("/helpdesk resolve ACME-1 Profile deployed")
    await olli.session.flush()
    [post] = [s for s in world.take() if s.startswith("[#ACME › ACME-1]")]
    lines = [line.strip() for line in post.splitlines()]
    assert lines[1:5] == ["Profile deployed", "", "Estimate 6h · time logged 6h 30m (5h 30m billable)", ""], lines
    assert lines[5].startswith("How did we do?")


def test_export_and_tickets_json(db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path) -> None:
    async def play() -> None:
        await db.init(db_url)
        try:
            await apply_config(load_config(ORG_YAML))
            world = ConsoleWorld(clock)
            acme = await world.person("customer:ACME")
            await acme.say("Mail is slow")
            globex = await world.person("customer:GLOBEX")
            await globex.say("Backup failed")
            olli = await world.person("consultant:olli")
            await olli.say('/helpdesk log ACME-1 21h "relay, part 1"')
            await olli.say("/helpdesk log ACME-1 30m nonbillable call")
            clock.set(datetime(2026, 11, 30, 22, 30, tzinfo=UTC))  # December in Helsinki, November in UTC
            await olli.say("/helpdesk log ACME-1 1h")
            await olli.say("/helpdesk log GLOBEX-1 2h")  # silver's calendar is UTC: still November
        finally:
            await db.close()

    asyncio.run(play())
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CHATDESK_CONFIG", "")
    monkeypatch.chdir(tmp_path)  # no chatdesk.yaml of the working tree is picked up
    runner = CliRunner()
    result = runner.invoke(app, ["hours", "export", "--month", "2026-11"])
    assert result.exit_code == 0, result.output
    entries, summary = result.stdout.split("\n\n")
    rows = list(csv.DictReader(io.StringIO(entries)))
    assert rows == [
        {"customer": "ACME", "ticket": "ACME-1", "title": "Mail is slow", "type": "incident", "date": "2026-11-23",
         "time": "09:00", "person": "olli", "minutes": "1260", "billable": "yes", "note": "relay, part 1"},
        {"customer": "ACME", "ticket": "ACME-1", "title": "Mail is slow", "type": "incident", "date": "2026-11-23",
         "time": "09:00", "person": "olli", "minutes": "30", "billable": "no", "note": "call"},
        {"customer": "GLOBEX", "ticket": "GLOBEX-1", "title": "Backup failed", "type": "incident",
         "date": "2026-11-30", "time": "22:30", "person": "olli", "minutes": "120", "billable": "yes", "note": ""},
    ]
    totals = {r["customer"]: r for r in csv.DictReader(io.StringIO(summary))}
    assert totals["ACME"] == {"customer": "ACME", "name": "Acme Oy", "included_minutes": "1200",
                              "used_minutes": "1260", "over_minutes": "60", "remaining_minutes": "-60",
                              "nonbillable_minutes": "30"}
    assert (totals["GLOBEX"]["used_minutes"], totals["GLOBEX"]["over_minutes"]) == ("120", "0")

    result = runner.invoke(app, ["hours", "export", "--month", "2026-12", "--customer", "acme", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(e["ticket"], e["minutes"], e["date"], e["time"]) for e in data["entries"]] == [
        ("ACME-1", 60, "2026-12-01", "00:30")]
    assert data["customers"] == [{"customer": "ACME", "name": "Acme Oy", "included": 20.0, "included_minutes": 1200,
                                  "billable_minutes": 60, "nonbillable_minutes": 0, "remaining_minutes": 1140,
                                  "used_minutes": 60, "over_minutes": 0}]

    for argv, message in ((["--month", "2026-13"], "--month: '2026-13' is not a month"),
                          (["--month", "2026-11", "--format", "xml"], "--format: 'xml' is not one of csv, json"),
                          (["--month", "2026-11", "--customer", "NOPE"], "--customer: no customer 'NOPE'")):
        result = runner.invoke(app, ["hours", "export", *argv])
        assert result.exit_code == 1 and result.stdout == "" and message in result.stderr, argv

    listed = json.loads(runner.invoke(app, ["tickets", "list", "--json"]).stdout)
    by_key = {t["key"]: t for t in listed}
    assert (by_key["ACME-1"]["logged_minutes"], by_key["ACME-1"]["billable_minutes"]) == (1350, 1320)
    assert (by_key["GLOBEX-1"]["logged_minutes"], by_key["GLOBEX-1"]["billable_minutes"]) == (120, 120)


# --- Slack ------------------------------------------------------------------------------------------------


@pytest.fixture
async def slack(database: str, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(clock, database) as w:
        yield w


async def test_slack_log_balance_and_notices_once(slack: SlackWorld) -> None:
    assert (await slack.http.event(slack.fixture("message_in_shared_channel.json"))).status == 200
    await slack.drain()
    before = len(slack.api.posts())
    for line, told, notice in STORY:
        response = await slack.http.command(slack.command(line, user="U0OLLI"))
        assert response.status == 200 and response.json()["text"] == told, line
        await slack.drain()
        posted = slack.api.posts()[before:]
        before += len(posted)
        if notice is None:
            assert posted == [], line
            continue
        public, dm = (WARNING_PUBLIC, WARNING_DM) if notice == "warning" else (OVER_PUBLIC, OVER_DM)
        by_channel = {p["channel"]: p for p in posted}
        assert len(posted) == 2 and set(by_channel) == {"C0ACME", "U0LEAD"}, posted
        assert "thread_ts" not in by_channel["C0ACME"]  # a channel notice, not in a ticket's thread
        assert by_channel["C0ACME"]["text"].startswith(public)
        assert by_channel["U0LEAD"]["text"].startswith(dm)
    response = await slack.http.command(slack.command("log ACME-1 7h", user="U0AINO1", channel="C0ACME",
                                                      team_id="T0ACME"))
    assert response.json()["text"] == "not allowed: only consultants and leads can log time"
    response = await slack.http.command(slack.command("hours", user="U0CUST1", channel="C0ACME", team_id="T0ACME"))
    assert response.json()["text"].startswith("Acme Oy, November: 21h 30m of 20h used, 1h 30m over.")
    response = await slack.http.command(slack.command("hours GLOBEX", user="U0CUST1", channel="C0ACME",
                                                      team_id="T0ACME"))
    assert response.json()["text"] == "you can see your own organisation's hours only: `/helpdesk hours`"


# --- Teams -----------------------------------------------------------------------------------------------


@pytest.fixture
async def teams(database: str, clock: FakeClock) -> AsyncIterator[TeamsWorld]:
    w = await TeamsWorld(clock, database).start()
    yield w
    await w.close()


async def test_teams_log_balance_and_notices_once(teams: TeamsWorld) -> None:
    assert await teams.post(teams.activity("channel_message_top_level")) == 200
    await teams.deliver()
    teams.connector.take()
    olli_from = teams.activity("adaptive_card_submit")["from"]
    for line, told, notice in STORY:
        command = teams.message("mention_command", f"<at>Helpdesk</at> {line}", **{"from": olli_from})
        command["entities"] = teams.activity("mention_command")["entities"]
        assert await teams.post(command) == 200
        [answer] = teams.connector.take()
        assert answer.conversation and answer.conversation.startswith(TRIAGE)
        assert answer.body["text"] == told, line
        await teams.deliver()
        posted = teams.connector.take()
        if notice is None:
            assert posted == [], line
            continue
        public, dm = (WARNING_PUBLIC, WARNING_DM) if notice == "warning" else (OVER_PUBLIC, OVER_DM)
        [channel] = [c for c in posted if c.body.get("channelData", {}).get("channel", {}).get("id")
                     == "19:acme@thread.tacv2"]
        assert public in channel.text
        [personal] = [c for c in posted if c.conversation and "personal" in c.conversation]
        assert dm in personal.text
        assert len(posted) == 2  # the channel post and the 1:1 chat with Maija, created with the DM in it
    assert await HoursNotice.all().count() == 2


# --- several workers --------------------------------------------------------------------------------------


async def test_concurrent_logs_send_each_notice_once(any_database: str, clock: FakeClock) -> None:
    """Two helpdesks (two workers) log at once for one customer: each notice goes out once, and the
    entry that reaches a level sees all the others (the customer's row lock), so none is missed."""
    workers = [Helpdesk(clock=clock), Helpdesk(clock=clock)]
    place = Place(Platform.CONSOLE, "console", "triage")
    opened = Invocation("open", Actor(Platform.CONSOLE, "console", "olli"), place, "new ACME Backups slow")
    await workers[0].handle_invocation(opened)

    async def log(n: int) -> None:
        inv = Invocation(f"log-{n}", Actor(Platform.CONSOLE, "console", "olli" if n % 2 else "sanna"), place,
                         "log ACME-1 1h")
        outcome = await workers[n % 2].handle_invocation(inv)
        assert outcome.replies[0].text.startswith("logged 1h on ACME-1"), outcome.replies

    # 16 h exactly reaches the warning: the entry that does it must see every other one.
    await asyncio.gather(*(log(n) for n in range(16)))
    assert await TimeEntry.filter(minutes=60).count() == 16
    assert await HoursNotice.all().values_list("kind", flat=True) == ["warning"]
    notices = await OutboxMessage.filter(dedupe_key__startswith="hours:").values_list("dedupe_key", flat=True)
    assert sorted(notices) == ["hours:ACME:2026-11:warning:channel:console:ACME",
                               "hours:ACME:2026-11:warning:dm:console:maija"]
    await asyncio.gather(*(log(n) for n in range(16, 21)))  # 21 h: over the bank
    assert await HoursNotice.all().order_by("kind").values_list("kind", flat=True) == ["over", "warning"]
    assert await OutboxMessage.filter(dedupe_key__startswith="hours:").count() == 4


async def test_report_json_has_each_customers_hours(world: ConsoleWorld) -> None:
    from bot.reports import build_report, period_for

    acme = await world.person("customer:ACME")
    await acme.say("Mail is slow")
    olli = await world.person("consultant:olli")
    await olli.say("/helpdesk log ACME-1 21h relay")
    await olli.say("/helpdesk log ACME-1 45m nonbillable call")
    now = world.clock.now()
    report = await build_report(now, period_for(now))
    hours_by_customer = {c["customer"]: c["hours"] for c in report["customers"]}
    assert hours_by_customer["ACME"] == {"month": "2026-11", "included": 20.0, "included_minutes": 1200,
                                         "billable_minutes": 1260, "nonbillable_minutes": 45,
                                         "remaining_minutes": -60}
    assert hours_by_customer["GLOBEX"]["remaining_minutes"] == 600
    # A period that ends in October reports October's month, where nothing was logged.
    october = await build_report(now, period_for(now, "2026-10-01", "2026-10-31"), "ACME")
    assert october["customers"][0]["hours"]["billable_minutes"] == 0
    json.dumps(report)
