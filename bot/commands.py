"""One grammar for `/helpdesk <sub> ...` (Slack, console) and `@Helpdesk <sub> ...` (Teams).

`parse` turns text into a typed `Command` or raises `ParseError`; it never raises
anything else, whatever the input (a hypothesis test holds it to that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rapidfuzz import fuzz, process

from bot.statuses import AGENT_ROLES, KNOWN_ROLES, STATUSES, Role

TICKET_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9]{1,9})-(\d{1,9})$")
CUSTOMER_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,9}$")
PLATFORM_MENTION = re.compile(r"^<@([A-Za-z0-9:_.\-]+)(?:\|[^>]*)?>$")
CONFIG_MENTION = re.compile(r"^@?([a-z0-9][a-z0-9._-]{0,63})$")
DURATION = re.compile(r"^(?:(\d+(?:[.,]\d+)?)d)?(?:(\d+(?:[.,]\d+)?)h)?(?:(\d+)m(?:in)?)?$")
MAX_TEXT = 4000
WORKDAY_MINUTES = 8 * 60

ROLES_ALL = KNOWN_ROLES
AGENTS = AGENT_ROLES
LEADS: frozenset[str] = frozenset({Role.LEAD})
CONTACTS: frozenset[str] = frozenset({Role.CONTACT})


class ParseError(Exception):
    """Input that is not a valid command; `message` is what the user is told."""

    def __init__(self, message: str, suggestion: str | None = None, command: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        self.command = command


class TicketType(StrEnum):
    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"
    CHANGE_REQUEST = "change_request"
    DEVELOPMENT = "development"


TYPE_ALIASES = {
    "incident": TicketType.INCIDENT, "inc": TicketType.INCIDENT, "bug": TicketType.INCIDENT,
    "service_request": TicketType.SERVICE_REQUEST, "service": TicketType.SERVICE_REQUEST,
    "request": TicketType.SERVICE_REQUEST, "sr": TicketType.SERVICE_REQUEST,
    "change_request": TicketType.CHANGE_REQUEST, "change": TicketType.CHANGE_REQUEST,
    "cr": TicketType.CHANGE_REQUEST,
    "development": TicketType.DEVELOPMENT, "dev": TicketType.DEVELOPMENT,
}


@dataclass(frozen=True)
class PersonRef:
    """A person named in a command: a platform mention (`<@U0OLLI>`) or a config id (`@olli`)."""

    platform_id: str | None = None
    pid: str | None = None

    def __str__(self) -> str:
        return f"@{self.pid}" if self.pid else f"<@{self.platform_id}>"


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # ticket | tickets | person | priority | type | status | text | word | duration | customer | int
    optional: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandSpec:
    name: str
    args: tuple[Arg, ...]
    roles: frozenset[str]
    summary: str
    usage: str
    example: str
    aliases: tuple[str, ...] = ()
    refusal: str = ""  # why others may not, e.g. "only a lead can set priority"


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)


def _spec(name: str, args: str, roles: frozenset[str], summary: str, example: str,
          aliases: tuple[str, ...] = (), refusal: str = "") -> CommandSpec:
    parsed: list[Arg] = []
    usage_parts: list[str] = []
    for token in args.split():
        optional = token.startswith("[")
        token = token.strip("[]")
        arg_name, _, kind = token.partition(":")
        choices: tuple[str, ...] = ()
        if "=" in kind:
            kind, _, options = kind.partition("=")
            choices = tuple(options.split("|"))
        parsed.append(Arg(arg_name, kind or "word", optional, choices))
        shown = "|".join(choices) if choices else f"<{arg_name}>"
        usage_parts.append(f"[{shown}]" if optional else shown)
    return CommandSpec(name, tuple(parsed), roles, summary, " ".join([name, *usage_parts]), example,
                       aliases, refusal)


SPECS: tuple[CommandSpec, ...] = (
    _spec("help", "[topic:word]", ROLES_ALL, "list commands, or explain one", "help assign"),
    _spec("new", "[customer:customer] text:text", ROLES_ALL,
          "open a ticket (agents name the customer)", "new ACME VPN is down for the Oulu office"),
    _spec("show", "key:ticket", ROLES_ALL, "show a ticket", "show ACME-7"),
    _spec("queue", "[person:person]", ROLES_ALL,
          "your tickets in your lead's order with SLA time left (contacts: your organisation's tickets)",
          "queue @olli", aliases=("tickets", "list", "mine")),
    _spec("claim", "key:ticket", AGENTS, "assign a ticket to yourself", "claim ACME-7",
          refusal="only consultants and leads can claim tickets"),
    _spec("assign", "key:ticket person:person", AGENTS, "assign a ticket to a consultant",
          "assign ACME-7 @olli", refusal="only consultants and leads can assign tickets"),
    _spec("priority", "key:ticket priority:priority", LEADS, "set priority P1-P4 (leads)",
          "priority ACME-7 P1", refusal="only a lead can set priority"),
    _spec("rank", "person:person keys:tickets", LEADS, "order a consultant's queue (leads)",
          "rank @olli ACME-7 ACME-3", refusal="only a lead can rank a queue"),
    _spec("type", "key:ticket type:type", AGENTS,
          "set the type: incident, service_request, change_request, development", "type ACME-7 change_request",
          refusal="only consultants and leads can set the type"),
    _spec("status", "key:ticket status:status", AGENTS, "set the status", "status ACME-7 in_progress",
          refusal="only consultants and leads can set the status"),
    _spec("wait", "key:ticket [text:text]", AGENTS,
          "wait on the customer (pauses the SLA) with an optional question to them", "wait ACME-7 Which office?",
          refusal="only consultants and leads can put a ticket on hold"),
    _spec("note", "key:ticket text:text", AGENTS, "add an internal note the customer never sees",
          "note ACME-7 Checked the firewall logs", refusal="only consultants and leads can write internal notes"),
    _spec("reply", "key:ticket text:text", AGENTS, "reply to the customer in the ticket's thread",
          "reply ACME-7 We are on it", refusal="only consultants and leads can reply as support"),
    _spec("resolve", "key:ticket text:text", AGENTS,
          "resolve with a resolution the customer sees", "resolve ACME-7 Restarted the VPN gateway",
          refusal="only consultants and leads can resolve tickets"),
    _spec("close", "key:ticket", AGENTS, "close a ticket", "close ACME-7",
          refusal="only consultants and leads can close tickets"),
    _spec("reopen", "key:ticket [text:text]", ROLES_ALL, "reopen a resolved or closed ticket",
          "reopen ACME-7 still broken"),
    _spec("sla", "key:ticket", AGENTS, "each SLA clock: target, used, left, paused", "sla ACME-7",
          refusal="only consultants and leads can see SLA clocks"),
    _spec("kb", "[text:text]", ROLES_ALL,
          "search the knowledge base; `kb draft KEY` turns a resolved ticket into a draft article",
          "kb reset password"),
    _spec("estimate", "key:ticket duration:duration [text:text]", AGENTS,
          "send an estimate for the customer's approval (change requests, development)",
          'estimate ACME-7 6h "new VPN profile for Oulu"', refusal="only consultants and leads can estimate"),
    _spec("approve", "key:ticket", CONTACTS, "approve an estimate (customer contacts)", "approve ACME-7",
          refusal="only the customer's own contacts can approve"),
    _spec("reject", "key:ticket [text:text]", CONTACTS, "reject an estimate with a reason (customer contacts)",
          "reject ACME-7 too expensive", refusal="only the customer's own contacts can reject"),
    _spec("accept", "key:ticket", CONTACTS, "accept a delivery in test (customer contacts)", "accept ACME-7",
          refusal="only the customer's own contacts can accept a delivery"),
    _spec("rate", "key:ticket rating:int", CONTACTS, "rate a resolved ticket 1-5 (customer contacts)",
          "rate ACME-7 5", refusal="only the customer's own contacts can rate"),
    _spec("handover", "key:ticket team:word [text:text]", AGENTS,
          "move a ticket to another support team with a summary", "handover ACME-7 implementation scoped",
          refusal="only consultants and leads can hand over tickets"),
    _spec("customer", "customer:customer", AGENTS, "a customer's contract, contacts, open tickets, SLA",
          "customer ACME", refusal="only consultants and leads can see customer profiles"),
    _spec("report", "[text:text]", AGENTS, "SLA attainment, backlog and CSAT for the last 30 days",
          "report", refusal="only consultants and leads can see reports"),
    _spec("privacy", "action:word=export|erase|notifications [text:text]", ROLES_ALL,
          "export your data, erase a contact (leads), or turn notifications off/on",
          "privacy notifications off"),
)

BY_NAME: dict[str, CommandSpec] = {}
for _s in SPECS:
    BY_NAME[_s.name] = _s
    for _a in _s.aliases:
        BY_NAME[_a] = _s

_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u201d": "\u201d", "\u2018": "\u2019", "\u2019": "\u2019"}


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[_Token]:
    """Whitespace-separated tokens; quotes group words. Unbalanced quotes are a ParseError."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] in _QUOTES:
            close = _QUOTES[text[i]]
            j = text.find(close, i + 1)
            if j < 0 and close != text[i]:
                j = text.find(text[i], i + 1)
            if j < 0:
                raise ParseError("a quote is not closed: add the closing \" or leave the quotes out")
            tokens.append(_Token(text[i + 1 : j], start, j + 1))
            i = j + 1
            continue
        while i < n and not text[i].isspace():
            i += 1
        tokens.append(_Token(text[start:i], start, i))
    return tokens


def _unquote_rest(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        inner = text[1:-1]
        if not any(q in inner for q in (text[0], _QUOTES[text[0]])):
            return inner.strip()
    return text


def parse_duration(text: str) -> int:
    """'6h', '90m', '1.5h', '2d' (a day is 8 working hours), '6h30m' -> minutes."""
    m = DURATION.match(text.strip().lower().replace(" ", ""))
    if not m or not any(m.groups()):
        if text.strip().isdigit():
            return int(text.strip()) * 60
        raise ParseError(f"'{text}' is not a duration: write 6h, 90m, 1.5h or 2d (a day is 8 hours)")
    days = float((m.group(1) or "0").replace(",", "."))
    hours = float((m.group(2) or "0").replace(",", "."))
    minutes = int(m.group(3) or 0)
    total = round(days * WORKDAY_MINUTES + hours * 60 + minutes)
    if total <= 0 or total > 1000 * WORKDAY_MINUTES:
        raise ParseError(f"'{text}' is not a sensible estimate")
    return total


def _value(arg: Arg, tok: _Token, spec: CommandSpec) -> Any:
    raw = tok.text
    if arg.kind == "ticket":
        m = TICKET_KEY.match(raw)
        if not m:
            raise ParseError(f"'{raw}' is not a ticket key like ACME-7", command=spec.name)
        return f"{m.group(1).upper()}-{int(m.group(2))}"
    if arg.kind == "person":
        m = PLATFORM_MENTION.match(raw)
        if m:
            return PersonRef(platform_id=m.group(1))
        m = CONFIG_MENTION.match(raw.lower()) if raw.startswith("@") or raw.islower() else None
        if m:
            return PersonRef(pid=m.group(1))
        raise ParseError(f"'{raw}' is not a person: mention them or use their id, like @olli", command=spec.name)
    if arg.kind == "priority":
        p = raw.upper().removeprefix("P")
        if p in {"1", "2", "3", "4"}:
            return f"P{p}"
        raise ParseError(f"'{raw}' is not a priority: use P1, P2, P3 or P4", command=spec.name)
    if arg.kind == "customer":
        if not CUSTOMER_KEY.match(raw):
            raise ParseError(f"'{raw}' is not a customer key like ACME", command=spec.name)
        return raw.upper()
    if arg.kind == "int":
        if not re.fullmatch(r"[0-9]{1,3}", raw):
            raise ParseError(f"'{raw}' is not a number", command=spec.name)
        return int(raw)
    if arg.kind == "duration":
        return parse_duration(raw)
    if arg.kind == "status":
        s = raw.lower().replace("-", "_")
        if s not in STATUSES:
            hint = process.extractOne(s, STATUSES, scorer=fuzz.ratio, score_cutoff=60)
            extra = f" Did you mean `{hint[0]}`?" if hint else ""
            raise ParseError(f"'{raw}' is not a status ({', '.join(STATUSES)}).{extra}", command=spec.name)
        return s
    if arg.choices:
        w = raw.lower()
        if w not in arg.choices:
            raise ParseError(f"'{raw}' is not one of: {', '.join(arg.choices)}", command=spec.name)
        return w
    return raw


def suggest_command(word: str) -> str | None:
    names = sorted(BY_NAME)
    hit = process.extractOne(word.lower(), names, scorer=fuzz.ratio, score_cutoff=60)
    return BY_NAME[hit[0]].name if hit else None


def parse(text: str) -> Command:
    """Parse the text after `/helpdesk` (a leading '/helpdesk' or 'helpdesk' is tolerated)."""
    if not isinstance(text, str):
        raise ParseError("a command must be text")
    if len(text) > MAX_TEXT:
        raise ParseError(f"that command is too long ({len(text)} characters, at most {MAX_TEXT})")
    text = text.replace("\x00", "").strip()
    for prefix in ("/helpdesk", "helpdesk"):
        if text.lower().startswith(prefix + " ") or text.lower() == prefix:
            text = text[len(prefix) :].strip()
    if not text:
        return Command("help")
    try:
        tokens = tokenize(text)
    except ParseError:
        # Free text may hold a lone quote ("it's", 'note ACME-1 "hm'): fall back to plain words.
        tokens = [_Token(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if not tokens:
        return Command("help")
    word = tokens[0].text.lower()
    spec = BY_NAME.get(word)
    if spec is None:
        guess = suggest_command(word)
        hint = f" Did you mean `/helpdesk {guess}`?" if guess else ""
        raise ParseError(f"unknown command '{tokens[0].text[:40]}'.{hint} Type `/helpdesk help` for the list.",
                         suggestion=guess)
    return _parse_args(spec, text, tokens[1:])


def _parse_args(spec: CommandSpec, text: str, tokens: list[_Token]) -> Command:
    args: dict[str, Any] = {}
    i = 0
    for pos, arg in enumerate(spec.args):
        remaining_required = [a for a in spec.args[pos:] if not a.optional]
        if arg.kind == "text":
            rest = _unquote_rest(text[tokens[i].start :]) if i < len(tokens) else ""
            if not rest and not arg.optional:
                raise ParseError(f"missing <{arg.name}>. Usage: `/helpdesk {spec.usage}`", command=spec.name)
            if rest:
                args[arg.name] = rest
            i = len(tokens)
            continue
        if arg.kind == "tickets":
            keys = []
            for tok in tokens[i:]:
                keys.append(_value(Arg(arg.name, "ticket"), tok, spec))
            if not keys:
                raise ParseError(f"missing ticket keys. Usage: `/helpdesk {spec.usage}`", command=spec.name)
            if len(set(keys)) != len(keys):
                raise ParseError("a ticket is listed twice", command=spec.name)
            args[arg.name] = keys
            i = len(tokens)
            continue
        if i >= len(tokens):
            if arg.optional:
                continue
            raise ParseError(f"missing <{arg.name}>. Usage: `/helpdesk {spec.usage}`", command=spec.name)
        if arg.optional:
            # An optional positional is taken only if the token fits and the rest can still be filled.
            try:
                value = _value(arg, tokens[i], spec)
            except ParseError:
                continue
            later_required = len([a for a in remaining_required if a is not arg])
            if arg.kind == "customer" and later_required and len(tokens) - i - 1 < 1:
                continue
            if arg.kind == "customer" and not tokens[i].text.isupper():
                continue
            args[arg.name] = value
            i += 1
            continue
        if arg.kind == "type":
            words = "_".join(t.text.lower().replace("-", "_") for t in tokens[i:])
            t = TYPE_ALIASES.get(words)
            if t is None:
                raise ParseError(f"'{' '.join(x.text for x in tokens[i:])}' is not a type: use incident, "
                                 "service_request, change_request or development", command=spec.name)
            args[arg.name] = t.value
            i = len(tokens)
            continue
        args[arg.name] = _value(arg, tokens[i], spec)
        i += 1
    if i < len(tokens):
        extra = " ".join(t.text for t in tokens[i:])[:60]
        raise ParseError(f"unexpected '{extra}'. Usage: `/helpdesk {spec.usage}`", command=spec.name)
    return Command(spec.name, args)


def help_text(topic: str | None = None, role: str | None = None) -> str:
    if topic:
        spec = BY_NAME.get(topic.lower())
        if spec is None:
            guess = suggest_command(topic)
            hint = f" Did you mean `{guess}`?" if guess else ""
            return f"No command '{topic}'.{hint}"
        aliases = f"\nAlso: {', '.join(spec.aliases)}" if spec.aliases else ""
        who = ", ".join(sorted(spec.roles))
        return (f"`/helpdesk {spec.usage}`\n{spec.summary}.\nExample: `/helpdesk {spec.example}`\n"
                f"Who: {who}{aliases}")
    lines = ["Commands (`/helpdesk help <command>` for details):"]
    for spec in SPECS:
        if role is None or role in spec.roles:
            lines.append(f"• `{spec.usage}`: {spec.summary}")
    return "\n".join(lines)
