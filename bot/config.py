"""The org config (the README's Org config section) as typed, validated objects.

Every error names the key path (`customers[1].contract: unknown contract 'gld'`)
and validation happens before anything is written, so a bad file changes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.config_problems import calendar_problems
from bot.sla import Calendar

PRIORITIES = ("P1", "P2", "P3", "P4")
METRICS = ("first_response", "next_response", "resolution")
CUSTOMER_KEY = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
PERSON_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
EMOJI_NAME = re.compile(r"^[a-z0-9][a-z0-9_+'-]{0,99}$")
MAX_GROUP_MINUTES = 24 * 60
EMAIL_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
EMAIL_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}$")


class ConfigError(ValueError):
    """One or more problems in the config, each naming its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Target(_Strict):
    first_response: int = Field(ge=0)
    next_response: int | None = Field(default=None, ge=0)
    resolution: int = Field(ge=0)

    def minutes(self, metric: str) -> int | None:
        if metric == "next_response":
            return self.next_response if self.next_response is not None else self.first_response
        return int(getattr(self, metric))


class HoursBank(_Strict):
    """`contracts.<name>.hours`: billable hours included each calendar month (bot/hours.py)."""

    monthly: float = Field(gt=0, le=744, strict=True)
    rollover: bool = Field(default=False, strict=True)
    warn_at: float = Field(default=0.8, gt=0, lt=1, strict=True)


class ContractConfig(_Strict):
    calendar: str
    team: str | None = None
    warn_at: float = Field(default=0.75, gt=0, lt=1)
    targets: dict[str, Target]
    hours: HoursBank | None = None

    @field_validator("targets")
    @classmethod
    def _priorities(cls, value: dict[str, Target]) -> dict[str, Target]:
        for key in value:
            if key not in PRIORITIES:
                raise ValueError(f"unknown priority {key!r} (use P1, P2, P3 or P4)")
        return value


class IntakeOverride(_Strict):
    """`customers[].intake`: any of the intake keys; what is left out comes from the top-level `intake:`."""

    ignore_pleasantries: StrictBool | None = None
    group_minutes: StrictInt | None = Field(default=None, ge=0, le=MAX_GROUP_MINUTES)
    ticket_emoji: StrictStr | None = None
    mode: Literal["auto", "reaction"] | None = None

    @field_validator("ticket_emoji")
    @classmethod
    def _emoji(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip().strip(":").lower()
        if not EMOJI_NAME.match(name):
            raise ValueError(f"{value!r} is not an emoji name; write the name Slack uses, e.g. ticket (for 🎫)")
        return name


class IntakeConfig(IntakeOverride):
    """`intake:` (DESIGN.md section 8): which top-level messages open tickets."""

    ignore_pleasantries: StrictBool = True
    group_minutes: StrictInt = Field(default=5, ge=0, le=MAX_GROUP_MINUTES)
    ticket_emoji: StrictStr = "ticket"
    mode: Literal["auto", "reaction"] = "auto"

    def merged(self, override: IntakeOverride | None) -> dict[str, Any]:
        """These settings with a customer's own keys over them, as stored on the customer."""
        values = self.model_dump()
        if override is not None:
            values.update(override.model_dump(exclude_none=True))
        return values


class ChannelConfig(_Strict):
    platform: Literal["slack", "teams"]
    team: str | None = None  # Slack workspace id
    channel: str | None = None  # Slack channel id
    tenant: str | None = None  # Teams tenant id
    conversation: str | None = None  # Teams channel id 19:...@thread.tacv2

    @model_validator(mode="after")
    def _shape(self) -> ChannelConfig:
        if self.platform == "slack":
            if not self.channel:
                raise ValueError("a slack channel needs 'channel' (the channel id, e.g. C0ACME)")
            if not self.team:
                raise ValueError("a slack channel needs 'team' (the workspace id its people belong to, e.g. "
                                 "T0ACME): only people of that workspace count as the customer's contacts")
            if self.tenant or self.conversation:
                raise ValueError("a slack channel takes 'team' and 'channel', not 'tenant'/'conversation'")
        else:
            if not self.conversation or not self.tenant:
                raise ValueError("a teams channel needs 'tenant' and 'conversation' (19:...@thread.tacv2)")
            if self.channel or self.team:
                raise ValueError("a teams channel takes 'tenant' and 'conversation', not 'team'/'channel'")
            if ";messageid=" in self.conversation:
                raise ValueError("'conversation' is the channel id, without ';messageid=...'")
        return self

    @property
    def channel_id(self) -> str:
        return (self.channel if self.platform == "slack" else self.conversation) or ""

    @property
    def tenant_id(self) -> str:
        return (self.team if self.platform == "slack" else self.tenant) or ""


class CustomerConfig(_Strict):
    key: str
    name: str
    contract: str
    account_manager: str | None = None
    channels: list[ChannelConfig] = Field(default_factory=list)
    intake: IntakeOverride | None = None
    email_domains: list[str] = Field(default_factory=list)  # a mail from these domains is this customer's

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for domain in value:
            d = domain.strip().lower()
            if not EMAIL_DOMAIN.match(d):
                raise ValueError(f"{domain!r} is not a mail domain (acme.fi)")
            out.append(d)
        return out

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not CUSTOMER_KEY.match(value):
            raise ValueError(f"{value!r} must be 2-10 capital letters or digits starting with a letter (ACME)")
        return value


class PersonConfig(_Strict):
    id: str
    name: str
    role: Literal["lead", "consultant"]
    slack: str | None = None
    teams: str | None = None
    email: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not EMAIL_ADDRESS.match(value) or not EMAIL_DOMAIN.match(value.rsplit("@", 1)[1].lower()):
            raise ValueError(f"{value!r} is not a mail address (olli@example.com)")
        return value.lower()

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not PERSON_ID.match(value):
            raise ValueError(f"{value!r} must be lower-case letters, digits, '.', '_' or '-'")
        return value


class TeamConfig(_Strict):
    members: list[str] = Field(default_factory=list)


class BoardConfig(_Strict):
    tokens: list[str] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _long_enough(cls, value: list[str]) -> list[str]:
        for token in value:
            if len(token) < 16:
                raise ValueError("board tokens must be at least 16 characters")
        return value


class OrgConfig(_Strict):
    calendars: dict[str, dict[str, Any]] = Field(default_factory=dict)
    contracts: dict[str, ContractConfig] = Field(default_factory=dict)
    customers: list[CustomerConfig] = Field(default_factory=list)
    people: list[PersonConfig] = Field(default_factory=list)
    support_teams: dict[str, TeamConfig] = Field(default_factory=dict)
    triage: list[ChannelConfig] = Field(default_factory=list)
    board: BoardConfig = Field(default_factory=BoardConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)

    def calendar(self, name: str) -> Calendar:
        return Calendar.from_config(self.calendars[name], f"calendars.{name}")

    def person(self, pid: str) -> PersonConfig | None:
        return next((p for p in self.people if p.id == pid), None)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _cross_check(cfg: OrgConfig) -> list[str]:
    problems: list[str] = []
    for name, raw in cfg.calendars.items():
        problems += calendar_problems(raw, f"calendars.{name}")
    for name, contract in cfg.contracts.items():
        if contract.calendar not in cfg.calendars:
            problems.append(f"contracts.{name}.calendar: unknown calendar {contract.calendar!r}")
        if contract.team is not None and contract.team not in cfg.support_teams:
            problems.append(f"contracts.{name}.team: unknown support team {contract.team!r}")
    person_ids = [p.id for p in cfg.people]
    seen: set[str] = set()
    emails: dict[str, str] = {}
    for i, person in enumerate(cfg.people):
        if person.id in seen:
            problems.append(f"people[{i}].id: duplicate person id {person.id!r}")
        seen.add(person.id)
        if person.email:
            if person.email in emails:
                problems.append(f"people[{i}].email: {person.email!r} is already {emails[person.email]}'s")
            emails[person.email] = person.id
    domains: dict[str, str] = {}
    channels: dict[tuple[str, str], str] = {}
    keys: set[str] = set()
    for i, customer in enumerate(cfg.customers):
        if customer.key in keys:
            problems.append(f"customers[{i}].key: duplicate customer key {customer.key!r}")
        keys.add(customer.key)
        if customer.contract not in cfg.contracts:
            problems.append(f"customers[{i}].contract: unknown contract {customer.contract!r}")
        if customer.account_manager is not None and customer.account_manager not in person_ids:
            problems.append(f"customers[{i}].account_manager: unknown person {customer.account_manager!r}")
        for j, ch in enumerate(customer.channels):
            ident = (ch.platform, ch.channel_id)
            if ident in channels:
                problems.append(f"customers[{i}].channels[{j}]: channel already used by {channels[ident]}")
            channels[ident] = f"customers[{i}].channels[{j}]"
        for j, domain in enumerate(customer.email_domains):
            if domain in domains:
                problems.append(f"customers[{i}].email_domains[{j}]: {domain!r} already belongs to {domains[domain]}")
            domains[domain] = customer.key
    for j, ch in enumerate(cfg.triage):
        ident = (ch.platform, ch.channel_id)
        if ident in channels:
            problems.append(f"triage[{j}]: channel already used by {channels[ident]}")
        channels[ident] = f"triage[{j}]"
    for name, team in cfg.support_teams.items():
        for k, member in enumerate(team.members):
            if member not in person_ids:
                problems.append(f"support_teams.{name}.members[{k}]: unknown person {member!r}")
    return problems


def parse_config(data: object) -> OrgConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): the config must be a mapping of calendars, contracts, customers, ..."])
    try:
        cfg = OrgConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            problems.append(f"{_loc(tuple(err['loc']))}: {msg}")
        calendars = data.get("calendars")
        if isinstance(calendars, dict):
            for name, cal in calendars.items():
                problems += calendar_problems(cal, f"calendars.{name}")
        raise ConfigError(problems) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def require_people_and_customers(cfg: OrgConfig) -> None:
    """An apply that would leave nobody able to work is refused: the file is probably empty or cut short."""
    problems = []
    if not cfg.customers:
        problems.append("customers: the file lists no customers (an empty or truncated file?)")
    if not cfg.people:
        problems.append("people: the file lists no people (an empty or truncated file?)")
    if problems:
        raise ConfigError(problems)


def load_config(path: str | Path) -> OrgConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}:{where}: invalid YAML: {problem}"]) from None
    return parse_config(data)
