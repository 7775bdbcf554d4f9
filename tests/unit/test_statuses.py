"""The one status model: every table speaks of known statuses, and the grammar and SLA use it."""

from __future__ import annotations

from bot import clocks, commands
from bot.statuses import (
    AGENT_TRANSITIONS,
    DONE_STATUSES,
    OPEN_STATUSES,
    PAUSING_STATUSES,
    REACHED_ONLY_BY,
    STATUSES,
    Role,
    Status,
    role_label,
    status_label,
)


def test_every_status_has_transitions_to_known_statuses() -> None:
    assert set(AGENT_TRANSITIONS) == set(STATUSES)
    for source, targets in AGENT_TRANSITIONS.items():
        assert set(targets) <= set(STATUSES), source
        assert source not in targets


def test_open_and_done_split_the_statuses() -> None:
    assert set(OPEN_STATUSES) | set(DONE_STATUSES) == set(STATUSES)
    assert not set(OPEN_STATUSES) & set(DONE_STATUSES)
    assert set(DONE_STATUSES) <= PAUSING_STATUSES
    assert Status.IN_PROGRESS not in PAUSING_STATUSES


def test_statuses_only_another_step_reaches_are_not_agent_targets_from_new() -> None:
    assert not set(REACHED_ONLY_BY) & set(AGENT_TRANSITIONS[Status.NEW])


def test_the_grammar_and_the_clocks_use_the_same_model() -> None:
    assert commands.STATUSES is STATUSES
    assert clocks.PAUSING_STATUSES is PAUSING_STATUSES
    assert commands.parse("status ACME-1 waiting-on-customer").get("status") == Status.WAITING_ON_CUSTOMER


def test_labels_and_string_equality() -> None:
    assert status_label(Status.WAITING_ON_CUSTOMER) == "waiting on customer"
    assert Role.CONTACT == "contact"
    assert role_label(Role.CONTACT) == "customer contact"
