"""Tortoise ORM models for the whole helpdesk domain.

Uniqueness lives in the database, not in memory: platform message ids, processed
event ids, outbox dedupe keys and SLA notices are unique columns, so a retried
delivery or a second worker can never store or send anything twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.models import Model
from tortoise.timezone import get_default_timezone, get_use_tz


class Timestamp(fields.DatetimeField):
    """A DatetimeField read with `datetime.fromisoformat`. Tortoise parses SQLite's ISO text with
    iso8601 at about 25 us a value and a ticket has a dozen: a quarter of the SLA sweep's time.
    Values come back as the ORM's own reading gives them (aware, in the configured zone); any
    other value takes the ORM's path. Migrations see a plain DatetimeField: the column is one."""

    def to_python_value(self, value: Any) -> datetime | None:
        if isinstance(value, str) and get_use_tz():
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return super().to_python_value(value)
            if parsed.tzinfo is not None:
                return parsed.astimezone(get_default_timezone())
        return super().to_python_value(value)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        _, args, kwargs = super().deconstruct()
        return "tortoise.fields.data.DatetimeField", args, kwargs


class Calendar(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    timezone = fields.CharField(max_length=64)
    hours: Any = fields.JSONField()  # {"mon": ["08:00-16:00"], ...} as written in the config
    holidays: Any = fields.JSONField()  # ["2026-12-24", ...]

    class Meta:
        table = "calendar"


class Contract(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    calendar: fields.ForeignKeyRelation[Calendar] = fields.ForeignKeyField(
        "models.Calendar", related_name="contracts", on_delete=fields.RESTRICT
    )
    calendar_id: int
    team = fields.CharField(max_length=100, null=True)
    warn_at = fields.FloatField(default=0.75)
    targets: Any = fields.JSONField()  # {"P1": {"first_response": 30, "next_response": 60, "resolution": 240}}
    hours: Any = fields.JSONField(null=True)  # the hour bank: {"monthly": 20, "rollover": false, "warn_at": 0.8}

    class Meta:
        table = "contract"


class Customer(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=200)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="customers", on_delete=fields.RESTRICT
    )
    contract_id: int
    account_manager = fields.CharField(max_length=100, null=True)
    next_number = fields.IntField(default=1)  # next ticket number, bumped under a row lock
    # The intake settings in force for this customer (the config's `intake:` with the customer's
    # own `intake:` over it), written by config apply; None means the defaults.
    intake: Any = fields.JSONField(null=True)

    class Meta:
        table = "customer"


class ChannelBinding(Model):
    """A chat channel chatdesk listens in: a customer's shared channel or a triage channel."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    tenant = fields.CharField(max_length=100)  # Slack team id or Teams tenant id
    channel = fields.CharField(max_length=255)  # Slack channel id or Teams conversation id (no ;messageid)
    purpose = fields.CharField(max_length=16)  # "customer" | "triage" | "email_domain" (channel = the domain)
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="channels", null=True, on_delete=fields.CASCADE
    )
    customer_id: int | None

    class Meta:
        table = "channel_binding"
        unique_together = (("platform", "channel"),)


class Person(Model):
    """A consultant or lead from the config (contacts are stored as Contact)."""

    id = fields.IntField(primary_key=True)
    pid = fields.CharField(max_length=100, unique=True)  # config id, e.g. "olli"
    name = fields.CharField(max_length=200)
    role = fields.CharField(max_length=16)  # "consultant" | "lead"
    slack = fields.CharField(max_length=64, null=True, index=True)
    teams = fields.CharField(max_length=255, null=True, index=True)
    email = fields.CharField(max_length=320, null=True, index=True)  # lower-case address
    active = fields.BooleanField(default=True)

    class Meta:
        table = "person"


class SupportTeam(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    members: Any = fields.JSONField()  # list of person ids

    class Meta:
        table = "support_team"


class Contact(Model):
    """A customer's person, known by (platform, tenant, user id)."""

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="contacts", on_delete=fields.CASCADE
    )
    customer_id: int
    platform = fields.CharField(max_length=16)
    tenant = fields.CharField(max_length=100)
    user_id = fields.CharField(max_length=255)
    display_name = fields.CharField(max_length=200, null=True)
    notifications = fields.BooleanField(default=True)
    erased_at = Timestamp(null=True)
    created_at = Timestamp()

    class Meta:
        table = "contact"
        unique_together = (("platform", "tenant", "user_id", "customer"),)


class Ticket(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=32, unique=True)
    number = fields.IntField()
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="tickets", on_delete=fields.RESTRICT
    )
    customer_id: int
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    contact_id: int | None
    title = fields.CharField(max_length=200)
    type = fields.CharField(max_length=32, default="incident")
    status = fields.CharField(max_length=32, default="new", index=True)
    priority = fields.CharField(max_length=2, default="P3")
    assignee: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    assignee_id: int | None
    team = fields.CharField(max_length=100, null=True)
    rank = fields.IntField(null=True)  # lead's order within the assignee's queue, 1 first
    estimate_minutes = fields.IntField(null=True)
    estimate_scope = fields.TextField(null=True)
    approval = fields.CharField(max_length=16, null=True)  # None | "pending" | "approved" | "rejected"
    resolution = fields.TextField(null=True)
    csat = fields.IntField(null=True)
    # Where the ticket's conversation lives.
    platform = fields.CharField(max_length=16)
    tenant = fields.CharField(max_length=100)
    channel = fields.CharField(max_length=255)
    thread = fields.CharField(max_length=255, null=True)  # root message id of the thread
    created_at = Timestamp(index=True)
    updated_at = Timestamp()
    first_response_at = Timestamp(null=True)
    resolved_at = Timestamp(null=True)
    closed_at = Timestamp(null=True)
    # SLA state: the clock's start per metric, pauses, deadlines; escalation_at = earliest open one.
    sla_state: Any = fields.JSONField(default=dict)
    first_response_due = Timestamp(null=True)
    next_response_due = Timestamp(null=True)
    resolution_due = Timestamp(null=True)
    escalation_at = Timestamp(null=True, index=True)
    notice_at = Timestamp(null=True, index=True)  # next warning or breach to send

    class Meta:
        table = "ticket"
        unique_together = (("customer", "number"), ("platform", "channel", "thread"))
        indexes = (("assignee_id", "status"), ("customer_id", "status"))  # queues


class Message(Model):
    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="messages", on_delete=fields.CASCADE
    )
    ticket_id: int
    platform = fields.CharField(max_length=16)
    # Slack ts and Teams message ids are unique only within a channel.
    channel = fields.CharField(max_length=255, default="")
    platform_message_id = fields.CharField(max_length=255)
    author_kind = fields.CharField(max_length=16)  # "contact" | "agent" | "bot"
    author_person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    author_person_id: int | None
    author_contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    author_contact_id: int | None
    author_name = fields.CharField(max_length=200, null=True)
    text = fields.TextField()
    internal = fields.BooleanField(default=False)
    created_at = Timestamp()
    edited_at = Timestamp(null=True)
    deleted_at = Timestamp(null=True)

    class Meta:
        table = "message"
        unique_together = (("platform", "channel", "platform_message_id"),)


class IntakeMessage(Model):
    """A contact's top-level message in a customer channel and what intake made of it (bot/intake.py).

    Every such message is recorded, so a message that opened nothing (a pleasantry, or any message
    in a channel where only a reaction opens tickets) can still become a ticket later, and a
    contact's next message can find the ticket their previous one belongs to."""

    id = fields.BigIntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    tenant = fields.CharField(max_length=100)  # the workspace/tenant the app is installed in
    channel = fields.CharField(max_length=255)
    message_id = fields.CharField(max_length=255)
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="intake_messages", on_delete=fields.CASCADE
    )
    contact_id: int
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="intake_messages", null=True, on_delete=fields.SET_NULL
    )
    ticket_id: int | None
    outcome = fields.CharField(max_length=16)  # opened | joined | pleasantry | nothing
    text = fields.TextField()
    files: Any = fields.JSONField(default=list)  # bot.types.FileRef fields, for a ticket opened later
    sent_at = Timestamp()  # the platform's own time of the message (Slack ts, Teams timestamp)
    deleted_at = Timestamp(null=True)

    class Meta:
        table = "intake_message"
        unique_together = (("platform", "channel", "message_id"),)
        indexes = (("contact_id", "channel", "sent_at"),)


class Attachment(Model):
    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="attachments", on_delete=fields.CASCADE
    )
    message_id: int
    platform_file_id = fields.CharField(max_length=255, null=True)
    name = fields.CharField(max_length=255)
    mimetype = fields.CharField(max_length=255, null=True)
    size = fields.BigIntField(null=True)
    url = fields.TextField(null=True)
    content = fields.BinaryField(null=True)  # fetched bytes, size-limited
    sha256 = fields.CharField(max_length=64, null=True, index=True)  # the same file is stored once per ticket

    class Meta:
        table = "attachment"


class AuditEvent(Model):
    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="audit", null=True, on_delete=fields.CASCADE
    )
    ticket_id: int | None
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="audit", null=True, on_delete=fields.SET_NULL
    )
    customer_id: int | None
    actor = fields.CharField(max_length=255)  # "person:olli", "contact:17", "system"
    channel = fields.CharField(max_length=255)  # "slack:C0ACME", "console", "system"
    action = fields.CharField(max_length=64)
    detail: Any = fields.JSONField(default=dict)
    created_at = Timestamp(index=True)

    class Meta:
        table = "audit_event"


class ProcessedEvent(Model):
    """An inbound platform event already handled, so a retried delivery is recognised."""

    id = fields.BigIntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    event_id = fields.CharField(max_length=255)
    created_at = Timestamp(index=True)

    class Meta:
        table = "processed_event"
        unique_together = (("platform", "event_id"),)


class InboxEvent(Model):
    """An inbound message accepted and acknowledged, waiting to be processed (storage/inbox.py).

    `key` (channel|event_id) is unique, so a retried delivery is accepted once; the worker
    processes a row and marks it done in one transaction, so a crash re-runs it and the
    ProcessedEvent row keeps the processing exactly-once."""

    id = fields.BigIntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    key = fields.CharField(max_length=255, unique=True)
    channel = fields.CharField(max_length=255)
    message_id = fields.CharField(max_length=255)  # a later reply in its thread waits for this row
    payload = fields.TextField()  # a serialised bot.types.IncomingMessage (JSON)
    status = fields.CharField(max_length=16, default="pending")  # pending | done | failed
    attempts = fields.IntField(default=0)
    next_attempt_at = Timestamp(index=True)
    last_error = fields.TextField(null=True)
    created_at = Timestamp()  # when it was accepted: the ticket's time

    class Meta:
        table = "inbox"
        indexes = (("status", "next_attempt_at"), ("channel", "message_id"))


class OutboxMessage(Model):
    """A post waiting to be delivered, written in the same transaction as the change."""

    id = fields.BigIntField(primary_key=True)
    platform = fields.CharField(max_length=16, index=True)
    destination: Any = fields.JSONField()  # {"tenant", "channel", "thread", "user", "kind"}
    payload: Any = fields.JSONField()  # a serialised bot.types.Reply
    dedupe_key = fields.CharField(max_length=255, null=True, unique=True)
    status = fields.CharField(max_length=16, default="pending")  # pending | sent | failed
    attempts = fields.IntField(default=0)
    next_attempt_at = Timestamp(index=True)
    last_error = fields.TextField(null=True)
    platform_message_id = fields.CharField(max_length=255, null=True)
    ticket_key = fields.CharField(max_length=32, null=True)
    created_at = Timestamp()
    sent_at = Timestamp(null=True)
    # 0: the customer sees it (their acknowledgement, replies): claimed before internal notices.
    priority = fields.SmallIntField(default=1)

    class Meta:
        table = "outbox"
        indexes = (("status", "next_attempt_at"), ("status", "priority", "id"))


class SlaNotice(Model):
    """One row per warning or breach actually sent: the unique key makes it once only."""

    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="notices", on_delete=fields.CASCADE
    )
    ticket_id: int
    metric = fields.CharField(max_length=32)
    kind = fields.CharField(max_length=16)  # "warning" | "breach"
    due_at = Timestamp()
    created_at = Timestamp()

    class Meta:
        table = "sla_notice"
        unique_together = (("ticket", "metric", "kind", "due_at"),)


class ConversationReference(Model):
    """Where a platform lets us post later (Teams proactive messages need the stored reference)."""

    id = fields.IntField(primary_key=True)
    platform = fields.CharField(max_length=16)
    key = fields.CharField(max_length=255)  # conversation id, or "user:<id>" for a personal chat
    tenant = fields.CharField(max_length=100, null=True)
    reference: Any = fields.JSONField()
    updated_at = Timestamp()

    class Meta:
        table = "conversation_reference"
        unique_together = (("platform", "key"),)


class KbArticle(Model):
    id = fields.IntField(primary_key=True)
    article_id = fields.CharField(max_length=200, unique=True)
    title = fields.CharField(max_length=500)
    tags: Any = fields.JSONField(default=list)
    body = fields.TextField()
    source = fields.CharField(max_length=1000, null=True)
    url = fields.CharField(max_length=1000, null=True)
    draft = fields.BooleanField(default=False)
    updated_at = Timestamp()

    class Meta:
        table = "kb_article"


class KbFeedback(Model):
    """A contact said a suggested article solved their ticket."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="kb_feedback", on_delete=fields.CASCADE
    )
    ticket_id: int
    article_id = fields.CharField(max_length=200)
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="kb_feedback", null=True, on_delete=fields.SET_NULL
    )
    contact_id: int | None
    created_at = Timestamp()

    class Meta:
        table = "kb_feedback"
        unique_together = (("ticket", "article_id"),)


class KbQuestion(Model):
    """An alternate wording of an article's question, learnt from a ticket it answered."""

    id = fields.IntField(primary_key=True)
    article_id = fields.CharField(max_length=200, db_index=True)
    text = fields.TextField()
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="kb_questions", null=True, on_delete=fields.SET_NULL
    )
    ticket_id: int | None
    source = fields.CharField(max_length=16)  # solved | link | draft
    created_at = Timestamp()

    class Meta:
        table = "kb_question"
        unique_together = (("article_id", "ticket"),)


class TimeEntry(Model):
    """Time logged on a ticket. Entries are never edited: a correction is a negative entry."""

    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="time_entries", on_delete=fields.CASCADE
    )
    ticket_id: int
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="time_entries", on_delete=fields.CASCADE
    )
    customer_id: int
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="time_entries", null=True, on_delete=fields.SET_NULL
    )
    person_id: int | None
    person_name = fields.CharField(max_length=200)  # as it was when logged
    minutes = fields.IntField()  # negative for a correction
    billable = fields.BooleanField()
    note = fields.TextField(null=True)
    month = fields.CharField(max_length=7)  # YYYY-MM in the contract calendar's zone when logged
    created_at = Timestamp()

    class Meta:
        table = "time_entry"
        indexes = (("customer_id", "month"),)


class HoursNotice(Model):
    """One row per hour-bank notice sent (the warning, then over the bank): unique, so once per month."""

    id = fields.BigIntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="hours_notices", on_delete=fields.CASCADE
    )
    customer_id: int
    month = fields.CharField(max_length=7)
    kind = fields.CharField(max_length=16)  # "warning" | "over"
    created_at = Timestamp()

    class Meta:
        table = "hours_notice"
        unique_together = (("customer", "month", "kind"),)


class InstallationSecret(Model):
    """A random value generated once per installation (the pseudonym key of privacy erasure)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    value = fields.CharField(max_length=128)
    created_at = Timestamp()

    class Meta:
        table = "installation_secret"


class ConfigVersion(Model):
    """One row counting changes to the configuration tables (storage.config_version's triggers raise
    it), so a worker may keep what it read until the count moves."""

    id = fields.IntField(primary_key=True)
    version = fields.BigIntField(default=0)

    class Meta:
        table = "config_version"
