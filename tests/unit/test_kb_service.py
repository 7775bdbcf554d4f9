"""kb/service.py against a real (SQLite) database: import, search, drafts, feedback, freshness."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kb import service
from storage import db
from storage.models import Customer, KbArticle, KbFeedback, Ticket

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kb" / "articles"


async def _open(url: str) -> AsyncIterator[str]:
    service.invalidate()
    await db.init(url)
    try:
        yield url
    finally:
        await db.close()
        service.invalidate()


@pytest.fixture
async def kb_db(db_url: str) -> AsyncIterator[str]:
    async for url in _open(db_url):
        yield url


@pytest.fixture
async def kb_any_db(any_db_url: str) -> AsyncIterator[str]:
    """On SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set."""
    async for url in _open(any_db_url):
        yield url


async def test_empty_knowledge_base_suggests_nothing(kb_db: str) -> None:
    assert await service.search("my vpn does not connect") == []
    assert await service.search("") == []


async def test_import_then_search(kb_any_db: str) -> None:
    report = await service.import_paths([FIXTURES])
    assert len(report.imported) == len(list(FIXTURES.glob("*.md")))
    assert report.skipped == [] and report.updated == [] and report.unchanged == []
    results = await service.search("vpn error 809 in a hotel", limit=3)
    assert results[0].id == "vpn-connect"
    assert results[0].title == "VPN does not connect (error 809 or 720)"
    assert len(results) <= 3
    assert await service.search("thanks, have a nice day!") == []


async def test_reimport_updates_instead_of_duplicating(kb_any_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    shutil.copytree(FIXTURES, folder)
    await service.import_paths([folder])
    count = await KbArticle.all().count()
    again = await service.import_paths([folder])
    assert again.imported == [] and again.updated == [] and len(again.unchanged) == count

    (folder / "printer-offline.md").write_text(
        "---\nid: printer-offline\ntitle: Printer shows as offline\ntags: [printer]\n---\n"
        "Reinstall the driver from the self-service portal.\n",
        encoding="utf-8",
    )
    assert (await service.search("reinstall driver self-service portal")) == []  # still the old text
    changed = await service.import_paths([folder])
    assert changed.updated == ["printer-offline"]
    assert await KbArticle.all().count() == count
    assert (await service.search("reinstall driver self-service portal"))[0].id == "printer-offline"


async def test_drafts_are_not_suggested_until_imported(kb_db: str, tmp_path: Path) -> None:
    await service.import_paths([FIXTURES])
    draft_id = await service.draft_from_ticket(
        "Scanner sends empty PDF files", "Update the scanner firmware to 4.2.", ["scanner", "pdf"]
    )
    assert draft_id.startswith("draft-scanner-sends-empty-pdf-files-")
    row = await KbArticle.get(article_id=draft_id)
    assert row.draft and row.tags == ["scanner", "pdf"]
    assert await service.search("scanner empty pdf") == []

    (tmp_path / "scanner.md").write_text(f"---\nid: {draft_id}\n---\n# Scanner sends empty PDF files\nUpdate firmware.")
    report = await service.import_paths([tmp_path / "scanner.md"])
    assert report.updated == [draft_id]
    assert (await service.search("scanner empty pdf"))[0].id == draft_id


async def test_another_process_import_is_noticed(kb_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await service.import_paths([FIXTURES])
    assert await service.search("dishwasher leaking water") == []
    # Written straight to the database, as `chatdesk kb import` in another process would.
    await KbArticle.create(
        article_id="dishwasher",
        title="The office dishwasher is leaking water",
        tags=["kitchen"],
        body="Close the valve under the sink and call facilities.",
        updated_at=datetime.now(UTC),
    )
    assert await service.search("dishwasher leaking water") == []  # checked less than CHECK_INTERVAL ago
    monkeypatch.setattr(service, "CHECK_INTERVAL", 0.0)
    before = service._cache.index
    # The search answers from the index it has and leaves the refresh to a background task.
    assert await service.search("dishwasher leaking water") == []
    assert service._cache.task is not None
    await service._cache.task
    assert service._cache.index is not before  # swapped in, not changed under a running search
    assert before is not None and "dishwasher" not in before
    assert (await service.search("dishwasher leaking water"))[0].id == "dishwasher"


async def test_missing_path_imports_nothing(kb_db: str) -> None:
    with pytest.raises(service.MissingPathError):
        await service.import_paths([FIXTURES, FIXTURES / "no-such-folder"])
    assert await KbArticle.all().count() == 0


async def test_record_solved_once_per_ticket_and_article(database: str) -> None:
    service.invalidate()
    customer = await Customer.first()
    assert customer is not None
    now = datetime.now(UTC)
    ticket = await Ticket.create(
        key=f"{customer.key}-1", number=1, customer=customer, title="VPN", platform="console",
        tenant="local", channel="c", created_at=now, updated_at=now,
    )
    assert await service.record_solved(ticket.id, "vpn-connect", None) is True
    assert await service.record_solved(ticket.id, "vpn-connect", None) is False
    assert await service.record_solved(ticket.id, "vpn-certificate") is True
    assert await KbFeedback.filter(ticket_id=ticket.id).count() == 2


async def test_saved_index_is_loaded_not_rebuilt(kb_any_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await service.import_paths([FIXTURES])
    expected = await service.search("vpn error 809 in a hotel")
    assert expected
    service.invalidate()  # as a new process (a restart, `chatdesk kb search`) starts
    builds = []
    monkeypatch.setattr(service, "_build", lambda *a, **k: builds.append(a))  # any rebuild is seen
    await service.ready()
    assert builds == []
    assert await service.search("vpn error 809 in a hotel") == expected


async def test_saved_index_is_brought_up_to_date_incrementally(kb_any_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await service.import_paths([FIXTURES])
    service.invalidate()
    await KbArticle.create(article_id="dishwasher", title="The office dishwasher is leaking water", tags=[],
                           body="Close the valve.", updated_at=datetime.now(UTC))
    monkeypatch.setattr(service, "_build", lambda *a, **k: pytest.fail("rebuilt from scratch"))
    await service.ready()
    assert (await service.search("dishwasher leaking"))[0].id == "dishwasher"
    assert (await service.search("vpn error 809 in a hotel"))[0].id == "vpn-connect"


async def test_search_never_waits_and_refreshes_outside_the_transaction(
    kb_any_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tortoise import connections
    from tortoise.transactions import in_transaction

    await service.import_paths([FIXTURES])
    service.invalidate()
    seen: list[bool] = []
    real = service._refresh

    async def spy() -> None:
        seen.append(getattr(connections.get("default"), "_parent", None) is None)
        await real()

    monkeypatch.setattr(service, "_refresh", spy)
    async with in_transaction():
        assert await service.search("vpn error 809 in a hotel") == []  # nothing loaded yet: no waiting
        task = service._cache.task
    assert task is not None
    await task
    assert seen == [True]
    assert (await service.search("vpn error 809 in a hotel"))[0].id == "vpn-connect"


async def test_questions_are_kept_once_per_ticket_and_removable(database: str) -> None:
    service.invalidate()
    customer = await Customer.first()
    assert customer is not None
    now = datetime.now(UTC)
    ticket = await Ticket.create(
        key=f"{customer.key}-1", number=1, customer=customer, title="VPN", platform="console",
        tenant="local", channel="c", created_at=now, updated_at=now,
    )
    await KbArticle.create(article_id="vpn", title="VPN keeps disconnecting", tags=[], body="Use IKEv2.",
                           updated_at=now)
    assert await service.add_question("vpn", "  remote   desktop freezes ", ticket_id=ticket.id, source="link")
    assert not await service.add_question("vpn", "again", ticket_id=ticket.id, source="solved")
    assert not await service.add_question("vpn", "   ", ticket_id=None, source="link")
    [question] = await service.questions("vpn")
    assert question.text == "remote desktop freezes"
    await service.ready()
    assert (await service.search("remote desktop freezes"))[0].id == "vpn"
    assert not await service.remove_question("vpn", question.id + 100)
    assert await service.remove_question("vpn", question.id)
    await service.ready()
    assert await service.search("remote desktop freezes") == []
