"""What "zero lost or doubled" means, read from PostgreSQL and from the fake Web API.

`Ledger.read` loads what chatdesk stored; `problems` returns every broken promise as a line
(an empty list is a pass), and `counts` the figures a run prints.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg

from tests.faults.fake_slack import SlackWithHistory
from tests.faults.slack_load import Event


def pg(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@dataclass
class Ledger:
    tickets: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    notices: list[dict[str, Any]]

    @classmethod
    async def read(cls, url: str) -> Ledger:
        conn = await asyncpg.connect(pg(url))
        try:
            tickets = await conn.fetch(
                "SELECT t.id, t.key, t.number, c.key AS customer, t.channel, t.thread, t.notice_at "
                "FROM ticket t JOIN customer c ON c.id = t.customer_id")
            messages = await conn.fetch("SELECT id, ticket_id, channel, platform_message_id, author_kind "
                                        "FROM message")
            outbox = await conn.fetch("SELECT id, status, attempts, dedupe_key, platform_message_id, ticket_key, "
                                      "destination, payload FROM outbox")
            notices = await conn.fetch("SELECT n.ticket_id, n.metric, n.kind, n.due_at, t.key FROM sla_notice n "
                                       "JOIN ticket t ON t.id = n.ticket_id")
        finally:
            await conn.close()
        return cls([dict(r) for r in tickets], [dict(r) for r in messages], [dict(r) for r in outbox],
                   [dict(r) for r in notices])


async def settle(url: str, timeout: float) -> tuple[int, int]:
    """Wait until no SLA notice is due and nothing accepted is left to do: no outbox row pending, and
    no inbox row pending where the schema has an inbox (messages acknowledged before they are
    processed). Returns (notices due, rows pending) at the end."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(pg(url))
    try:
        has_inbox = await conn.fetchval("SELECT to_regclass('inbox') IS NOT NULL")
        query = "SELECT count(*) FROM outbox WHERE status = 'pending'"
        if has_inbox:
            query = f"SELECT ({query}) + (SELECT count(*) FROM inbox WHERE status = 'pending')"
        while True:
            pending = await conn.fetchval(query)
            due = await conn.fetchval("SELECT count(*) FROM ticket WHERE notice_at <= now()")
            if (due == 0 and pending == 0) or time.monotonic() > deadline:
                return int(due), int(pending)
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


def post_key(row: dict[str, Any]) -> str:
    """The key a post of this outbox row carries in its metadata (see storage.outbox)."""
    return str(row["dedupe_key"] or f"outbox:{row['id']}")


def problems(events: list[Event], ledger: Ledger, api: SlackWithHistory) -> list[str]:
    out: list[str] = []
    sent = {(e.channel, e.ts): e for e in events}
    by_message: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in ledger.messages:
        by_message[(m["channel"], m["platform_message_id"])].append(m)
    tickets_by_id = {t["id"]: t for t in ledger.tickets}
    tickets_by_thread: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for t in ledger.tickets:
        tickets_by_thread[(t["channel"], t["thread"])].append(t)

    # Every acknowledged customer message is stored exactly once, as a ticket or in its ticket;
    # one Slack gave up on is stored at most once; nothing is stored that was not sent.
    for e in events:
        stored = by_message.get((e.channel, e.ts), [])
        if len(stored) > 1:
            out.append(f"{e.event_id} stored {len(stored)} times")
        if e.acked and not stored:
            out.append(f"{e.event_id} ({'reply to ' + str(e.thread_ts) if e.is_reply else 'new'} {e.channel} {e.ts}) "
                       f"was acknowledged but is not stored: {e.history}")
        for m in stored:
            ticket = tickets_by_id[m["ticket_id"]]
            thread = e.thread_ts or e.ts
            if (ticket["channel"], ticket["thread"]) != (e.channel, thread):
                out.append(f"{e.event_id} stored in {ticket['key']}, not in the ticket of its thread")
        if not e.is_reply:
            opened = tickets_by_thread.get((e.channel, e.ts), [])
            if len(opened) > 1 or (e.acked and not opened):
                out.append(f"{e.event_id} opened {len(opened)} tickets")
    for place, rows in by_message.items():
        if place not in sent:
            out.append(f"a message nobody sent is stored: {place} ({len(rows)}x)")

    # Ticket keys: ACME-1..N without gaps or doubles, one customer at a time.
    numbers: dict[str, list[int]] = defaultdict(list)
    for t in ledger.tickets:
        numbers[t["customer"]].append(t["number"])
        if t["key"] != f"{t['customer']}-{t['number']}":
            out.append(f"ticket {t['key']} has number {t['number']}")
    for customer, got in numbers.items():
        if sorted(got) != list(range(1, len(got) + 1)):
            missing = sorted(set(range(1, max(got) + 1)) - set(got))[:10]
            doubled = [n for n, c in Counter(got).items() if c > 1][:10]
            out.append(f"{customer} keys are not 1..{len(got)}: missing {missing}, doubled {doubled}")

    # Every outbox row was delivered, and every delivery is in the chat exactly once.
    posted = api.by_key()
    rows_by_key = {post_key(r): r for r in ledger.outbox}
    for row in ledger.outbox:
        key = post_key(row)
        found = posted.get(key, [])
        if row["status"] != "sent":
            out.append(f"outbox {row['id']} ({key}) is {row['status']} after {row['attempts']} attempts")
        if len(found) != 1:
            out.append(f"{key} was posted {len(found)} times")
        elif row["status"] == "sent" and row["platform_message_id"] != found[0]["ts"]:
            out.append(f"outbox {row['id']} marked sent as {row['platform_message_id']}, posted as {found[0]['ts']}")
    for key in posted:
        if key not in rows_by_key:
            out.append(f"a post with no outbox row: {key!r} ({len(posted[key])}x)")

    # Each ticket's acknowledgement: one post in its thread.
    acks: Counter[tuple[str, str]] = Counter()
    for m in api.messages():
        if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "ack":
            acks[(m["channel"], m.get("thread_ts") or "")] += 1
    for t in ledger.tickets:
        if acks[(t["channel"], t["thread"])] != 1:
            out.append(f"{t['key']}: {acks[(t['channel'], t['thread'])]} acknowledgements in its thread")

    # SLA notices: every ticket's breaches were recorded, and each was posted once to the thread
    # and once to triage.
    recorded: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for n in ledger.notices:
        recorded[n["key"]].add((n["metric"], n["kind"]))
        stamp = f"sla:{n['key']}:{n['metric']}:{n['kind']}:{int(n['due_at'].timestamp())}"
        for where in ("thread", "triage"):
            prefix = f"{stamp}:{where}:"
            count = sum(len(v) for k, v in posted.items() if k.startswith(prefix))
            if count != 1:
                out.append(f"{stamp} ({where}) was posted {count} times")
    for t in ledger.tickets:
        if recorded[t["key"]] != {("first_response", "breach"), ("resolution", "breach")}:
            out.append(f"{t['key']}: SLA notices {sorted(recorded[t['key']])}")
        if t["notice_at"] is not None:
            out.append(f"{t['key']}: a notice is still due at {t['notice_at']}")
    return out


def counts(events: list[Event], ledger: Ledger, api: SlackWithHistory, stats: Any) -> dict[str, int]:
    posted = api.by_key()
    stuck = sum(1 for r in ledger.outbox if r["status"] != "sent")
    return {
        "events": len(events),
        "sent_requests": stats.requests,
        "acked": sum(e.acked for e in events),
        "retried": stats.retried,
        "gave_up": stats.gave_up,
        "tickets": len(ledger.tickets),
        "messages": len(ledger.messages),
        "notices": len(ledger.notices),
        "outbox_rows": len(ledger.outbox),
        "posts": sum(len(v) for v in posted.values()),
        "answers_lost": len(api.lost),
        "duplicates": sum(len(v) - 1 for v in posted.values() if len(v) > 1),
        "stuck": stuck,
    }


def report(title: str, figures: dict[str, int], seconds: float) -> str:
    return f"{title} ({seconds:.1f} s): " + " ".join(f"{k}={v}" for k, v in figures.items())
