"""The command grammar: typed results, clear errors, did-you-mean, and no crash on any input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import BY_NAME, SPECS, Command, ParseError, PersonRef, help_text, parse, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("assign ACME-7 @olli", Command("assign", {"key": "ACME-7", "person": PersonRef(pid="olli")})),
        ("/helpdesk assign acme-7 <@U0OLLI|olli>",
         Command("assign", {"key": "ACME-7", "person": PersonRef(platform_id="U0OLLI")})),
        ("assign ACME-7 <@29:olli>", Command("assign", {"key": "ACME-7", "person": PersonRef(platform_id="29:olli")})),
        ("rank @olli ACME-7 ACME-3",
         Command("rank", {"person": PersonRef(pid="olli"), "keys": ["ACME-7", "ACME-3"]})),
        ("priority ACME-7 p1", Command("priority", {"key": "ACME-7", "priority": "P1"})),
        ("priority ACME-007 4", Command("priority", {"key": "ACME-7", "priority": "P4"})),
        ("type ACME-7 service request", Command("type", {"key": "ACME-7", "type": "service_request"})),
        ("type ACME-7 CR", Command("type", {"key": "ACME-7", "type": "change_request"})),
        ("status ACME-7 in-progress", Command("status", {"key": "ACME-7", "status": "in_progress"})),
        ("note ACME-7 checked   the \"logs\"", Command("note", {"key": "ACME-7", "text": 'checked   the "logs"'})),
        ('resolve ACME-7 "Restarted the gateway"', Command("resolve", {"key": "ACME-7", "text": "Restarted the gateway"})),
        ("note ACME-7 it's \"odd", Command("note", {"key": "ACME-7", "text": "it's \"odd"})),
        ("wait ACME-7", Command("wait", {"key": "ACME-7"})),
        ("estimate ACME-7 1.5h new profile", Command("estimate", {"key": "ACME-7", "duration": 90, "text": "new profile"})),
        ("new ACME printer on fire", Command("new", {"customer": "ACME", "text": "printer on fire"})),
        ("new printer on fire", Command("new", {"text": "printer on fire"})),
        ("queue", Command("queue", {})),
        ("mine", Command("queue", {})),
        ("", Command("help", {})),
        ("help assign", Command("help", {"topic": "assign"})),
        ("privacy notifications off", Command("privacy", {"action": "notifications", "text": "off"})),
        ("rate ACME-7 5", Command("rate", {"key": "ACME-7", "rating": 5})),
    ],
)
def test_parses(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("asign ACME-7 @olli", "Did you mean `/helpdesk assign`?"),
        ("prioritty ACME-7 P1", "Did you mean `/helpdesk priority`?"),
        ("xyzzy", "unknown command 'xyzzy'"),
        ("priority ACME-7 P5", "not a priority"),
        ("priority ACME7 P1", "not a ticket key like ACME-7"),
        ("priority ACME-7", "missing <priority>"),
        ("assign ACME-7", "missing <person>"),
        ("assign ACME-7 @Olli!", "not a person"),
        ("rank @olli", "missing ticket keys"),
        ("rank @olli ACME-1 ACME-1", "listed twice"),
        ("status ACME-7 inprogres", "Did you mean `in_progress`?"),
        ("type ACME-7 banana", "not a type"),
        ("show ACME-7 extra", "unexpected 'extra'"),
        ("note ACME-7", "missing <text>"),
        ("estimate ACME-7 soon x", "not a duration"),
        ("privacy delete", "not one of: export, erase, notifications"),
        ("note ACME-1 " + "x" * 5000, "too long"),
    ],
)
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    assert message in info.value.message


def test_did_you_mean_names_the_command() -> None:
    with pytest.raises(ParseError) as info:
        parse("reslove ACME-1 done")
    assert info.value.suggestion == "resolve"


def test_every_command_has_help_and_an_example_that_parses() -> None:
    for spec in SPECS:
        text = help_text(spec.name)
        assert spec.summary in text and spec.example in text
        assert parse(spec.example).name == spec.name
    overview = help_text()
    assert all(spec.usage in overview for spec in SPECS)


def test_help_for_a_role_lists_only_its_commands() -> None:
    contact_help = help_text(role="contact")
    assert "approve" in contact_help and "priority ACME" not in contact_help
    assert "`priority <key> <priority>`" not in contact_help


@pytest.mark.parametrize(("text", "minutes"), [("6h", 360), ("90m", 90), ("1.5h", 90), ("2d", 960), ("6h30m", 390),
                                               ("3", 180), ("1,5h", 90)])
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_no_input_raises_anything_but_a_parse_error(text: str) -> None:
    try:
        command = parse(text)
    except ParseError as exc:
        assert exc.message
        return
    assert command.name in BY_NAME


words = st.sampled_from([*BY_NAME, "ACME-7", "@olli", "<@U1|x>", "P1", '"', "“", "in_progress", "6h", "x", "-1"])


@settings(max_examples=400, deadline=None)
@given(st.lists(words, max_size=8))
def test_command_like_inputs_parse_to_a_valid_command_or_a_clear_error(parts: list[str]) -> None:
    try:
        command = parse(" ".join(parts))
    except ParseError as exc:
        assert exc.message.strip()
        return
    spec = BY_NAME[command.name]
    assert command.name == spec.name  # aliases resolve to the command itself
    names = {a.name for a in spec.args}
    assert set(command.args) <= names, (command, spec.usage)
    for arg in spec.args:
        if arg.optional:
            continue
        assert arg.name in command.args, (command, spec.usage)
        value = command.args[arg.name]
        if arg.kind == "ticket":
            assert re.fullmatch(r"[A-Z][A-Z0-9]{1,9}-(0|[1-9][0-9]*)", value), value
        elif arg.kind == "person":
            assert isinstance(value, PersonRef) and (value.pid or value.platform_id)
        elif arg.kind == "priority":
            assert value in ("P1", "P2", "P3", "P4")
        elif arg.kind == "text":
            assert value.strip()
