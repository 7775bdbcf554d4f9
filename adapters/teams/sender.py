"""Delivers queued replies to Teams through the Bot Framework connector (the outbox's Sender).

- A ticket thread: post into `<channel>;messageid=<root>`.
- A channel without a thread (triage notices, a ticket opened by command): a new thread post.
- A person (DM): their stored 1:1 conversation, or a new 1:1 conversation created with
  the tenant's serviceUrl.
HTTP 429 and 5xx become retryable DeliveryErrors (with Retry-After), other 4xx permanent ones.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)

from adapters.teams import references
from adapters.teams.render import message
from bot.clock import Clock
from bot.types import Destination, Reply
from storage.outbox import DeliveryError
from storage.retry import retry_after

log = logging.getLogger("chatdesk.teams")

NO_SERVICE_URL_RETRY = 300.0  # seconds: wait for Teams to tell us where to post
TEAMS_CHANNEL = "msteams"


def delivery_error(exc: BaseException, what: str) -> DeliveryError:
    """A connector failure as the outbox understands it."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return DeliveryError(f"{what}: Teams connector unreachable ({type(exc).__name__}: {exc})")
    headers = getattr(response, "headers", None) or {}
    wait = retry_after(headers.get("Retry-After"))
    if status == 429 or status == 408 or status >= 500:
        return DeliveryError(f"{what}: HTTP {status}", retry_after=wait)
    return DeliveryError(f"{what}: HTTP {status}", permanent=True)


def connector_of(context: TurnContext) -> Any:
    return context.turn_state[context.adapter.BOT_CONNECTOR_CLIENT_KEY]


def is_channel(conversation_id: str) -> bool:
    return "@thread.tacv2" in conversation_id or "@thread.skype" in conversation_id


class TeamsSender:
    def __init__(self, adapter: CloudAdapter, app_id: str, tenant_id: str = "", clock: Clock | None = None) -> None:
        self.adapter = adapter
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.clock = clock

    def _now(self) -> datetime:
        return self.clock.now() if self.clock else datetime.now(UTC)

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        payload = message(reply, destination)
        activity = Activity().deserialize(payload)
        if destination.user:
            return await self._direct(destination, activity)
        if not destination.channel:
            raise DeliveryError("a Teams destination needs a channel or a user", permanent=True)
        if destination.thread:
            target = f"{destination.channel};messageid={destination.thread}"
            return await self._post(destination.channel, destination.tenant, target, activity)
        if is_channel(destination.channel):
            return await self._new_thread(destination, activity)
        return await self._post(destination.channel, destination.tenant, destination.channel, activity)

    # -- where to post ----------------------------------------------------------------------

    async def _service(self, key: str | None, tenant: str | None) -> dict[str, Any]:
        known = await references.load(key) if key else None
        if known is None:
            known = await references.service_for(tenant)
        if not known or not known.get("serviceUrl"):
            raise DeliveryError(f"no serviceUrl known for Teams tenant {tenant or '?'} yet (the bot has not "
                                "received an activity from it)", retry_after=NO_SERVICE_URL_RETRY)
        return known

    def _bot(self, known: dict[str, Any]) -> ChannelAccount:
        bot = known.get("bot") or {}
        return ChannelAccount(id=bot.get("id") or f"28:{self.app_id}", name=bot.get("name"))

    # -- the three kinds of post --------------------------------------------------------------

    async def _post(self, key: str, tenant: str | None, conversation_id: str, activity: Activity) -> str | None:
        known = await self._service(key, tenant)
        tenant = tenant or (known.get("conversation") or {}).get("tenantId")
        reference = ConversationReference(
            channel_id=known.get("channelId") or TEAMS_CHANNEL, service_url=known["serviceUrl"], bot=self._bot(known),
            conversation=ConversationAccount(id=conversation_id, tenant_id=tenant or None,
                                             is_group=is_channel(conversation_id) or None))
        sent: dict[str, str | None] = {}

        async def post(context: TurnContext) -> None:
            activity.conversation = reference.conversation
            activity.from_property = reference.bot
            response = await connector_of(context).conversations.send_to_conversation(conversation_id, activity)
            sent["id"] = getattr(response, "id", None)

        await self._run(f"post to {conversation_id}", self.adapter.continue_conversation(
            reference, post, bot_app_id=self.app_id))
        return sent.get("id")

    async def _new_thread(self, destination: Destination, activity: Activity) -> str | None:
        assert destination.channel is not None
        tenant = destination.tenant or None
        known = await self._service(destination.channel, tenant)
        tenant_data = {"tenant": {"id": tenant}} if tenant else {}
        params = ConversationParameters(
            is_group=True, bot=self._bot(known), activity=activity, tenant_id=tenant,
            channel_data={"channel": {"id": destination.channel}, **tenant_data})
        created: dict[str, str | None] = {}

        async def note(context: TurnContext) -> None:
            conversation_id = context.activity.conversation.id or ""
            created["id"] = conversation_id.partition(";messageid=")[2] or context.activity.id

        await self._run(f"new thread in {destination.channel}", self.adapter.create_conversation(
            self.app_id, note, params, channel_id=known.get("channelId") or TEAMS_CHANNEL,
            service_url=known["serviceUrl"]))
        return created.get("id")

    async def _direct(self, destination: Destination, activity: Activity) -> str | None:
        assert destination.user is not None
        key = f"user:{destination.user}"
        personal = await references.load(key)
        if personal and (personal.get("conversation") or {}).get("id"):
            conversation_id = personal["conversation"]["id"]
            return await self._post(key, personal["conversation"].get("tenantId"), conversation_id, activity)
        tenant = destination.tenant or self.tenant_id or await references.home_tenant()
        known = await self._service(None, tenant)
        params = ConversationParameters(
            is_group=False, bot=self._bot(known), members=[ChannelAccount(id=destination.user)],
            tenant_id=tenant or None, channel_data={"tenant": {"id": tenant}} if tenant else None)
        sent: dict[str, str | None] = {}

        async def post(context: TurnContext) -> None:
            conversation_id = context.activity.conversation.id
            activity.conversation = ConversationAccount(id=conversation_id, tenant_id=tenant or None)
            activity.from_property = params.bot
            response = await connector_of(context).conversations.send_to_conversation(conversation_id, activity)
            sent["id"] = getattr(response, "id", None)
            reference = {"serviceUrl": known["serviceUrl"], "channelId": known.get("channelId") or TEAMS_CHANNEL,
                         "bot": {"id": params.bot.id, **({"name": params.bot.name} if params.bot.name else {})},
                         "conversation": {"id": conversation_id, "conversationType": "personal", "isGroup": False,
                                          **({"tenantId": tenant} if tenant else {})},
                         "user": {"id": destination.user}}
            await references.save(key, tenant or None, reference, self._now())

        await self._run("direct message", self.adapter.create_conversation(  # no user id: logs name no one
            self.app_id, post, params, channel_id=known.get("channelId") or TEAMS_CHANNEL,
            service_url=known["serviceUrl"]))
        return sent.get("id")

    async def _run(self, what: str, call: Awaitable[Any]) -> None:
        try:
            await call
        except DeliveryError:
            raise
        except Exception as exc:
            error = delivery_error(exc, what)
            log.warning("Teams %s failed: %s", what, error)
            raise error from None
