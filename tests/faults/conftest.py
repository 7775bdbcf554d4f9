"""Fault tests: `pytest tests/faults -m "not full"` is the short form `make test` runs;
`make faults` runs them all, the full-size load included."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faults.fake_slack import SlackWithHistory


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full: the full-size fault load (make faults)")


@pytest.fixture
async def fake_api() -> AsyncIterator[SlackWithHistory]:
    """The fake Slack Web API with history, in the test's event loop, on 127.0.0.1."""
    api = await SlackWithHistory().start()
    try:
        yield api
    finally:
        await api.close()
