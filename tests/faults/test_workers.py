"""Several workers: `chatdesk serve --workers 4` on PostgreSQL, loaded with signed Slack events
(new messages, replies, and the same event delivered twice at once) while two `chatdesk
reminders` workers sweep SLA deadlines that are all due at once.

Afterwards every customer message is exactly one ticket or ticket message, ticket keys run
ACME-1..N and GLOBEX-1..M, each acknowledgement and each SLA notice was posted exactly once,
and no outbox row is left pending or failed.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.faults.checks import Ledger, counts, problems, report, settle
from tests.faults.cluster import Cluster, apply_org, instant_org
from tests.faults.fake_slack import SlackWithHistory
from tests.faults.slack_load import SlackDelivery, make_events
from tests.scenarios.slack_harness import SIGNING_SECRET

EVENTS = int(os.environ.get("CHATDESK_WORKERS_EVENTS", "200"))


async def test_four_workers_store_and_post_every_message_once(pg_url: str, tmp_path: Path,
                                                              fake_api: SlackWithHistory) -> None:
    started = time.monotonic()
    config = instant_org(tmp_path / "org.yaml")
    await apply_org(pg_url, config)
    cluster = Cluster(pg_url, fake_api.url, config, tmp_path, workers=4)
    try:
        await cluster.start()
        cluster.start_reminders(count=2, interval=0.5)
        up = time.monotonic()
        events = make_events(EVENTS)
        delivery = SlackDelivery(cluster.url, SIGNING_SECRET, concurrency=16, duplicate_share=0.25)
        served: set[int] = set()
        watch = asyncio.create_task(cluster.watch_serving(served))
        stats = await asyncio.wait_for(delivery.run(events), timeout=120)
        watch.cancel()
        loaded = time.monotonic()
        due, pending = await settle(pg_url, timeout=60)
        settled = time.monotonic()
    finally:
        cluster.stop()
    stopped = time.monotonic()
    ledger = await Ledger.read(pg_url)
    figures = counts(events, ledger, fake_api, stats)
    print("\n" + report("4 workers", figures, time.monotonic() - started))
    print(f"start {up - started:.1f} s, load {loaded - up:.1f} s, settle {settled - loaded:.1f} s, "
          f"stop {stopped - settled:.1f} s; "
          f"workers that took requests: {len(served)}")
    found = problems(events, ledger, fake_api)
    assert not found, "\n".join(found[:40]) + "\n" + cluster.log_tail()
    assert stats.gave_up == 0 and all(e.acked for e in events), stats
    assert stats.duplicates_sent > 0 and figures["tickets"] > 0 and figures["notices"] == 2 * figures["tickets"]
    assert (due, pending) == (0, 0)
    assert len(served) == 4, "the load should reach every worker"
