"""Where Teams lets the bot post later: conversation references kept from inbound activities.

Rows (storage.models.ConversationReference, platform "teams"):
- `<conversation id>` (without ;messageid=) for channels and chats the bot is in,
- `user:<29:id>` and `user:<aadObjectId>` for a person's 1:1 chat with the bot,
- `tenant:<tenant id>` with the serviceUrl and bot account seen for that tenant, for
  proactive posts to places the bot has not heard from yet.
References are plain Bot Framework JSON (camelCase), not SDK objects.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from adapters.teams.inbound import conversation_of, tenant_of
from storage.models import ChannelBinding, ConversationReference

PLATFORM = "teams"

log = logging.getLogger("chatdesk.teams")


def _account(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    return {k: value[k] for k in ("id", "name", "aadObjectId") if isinstance(value.get(k), str)}


async def save(key: str, tenant: str | None, reference: dict[str, Any], now: datetime) -> None:
    """Insert or update one reference; unchanged references are not rewritten.

    A reference stored for one tenant is never replaced by an activity of another.
    """
    row = await ConversationReference.filter(platform=PLATFORM, key=key[:255]).first()
    if row is not None:
        if row.tenant and row.tenant != tenant:
            log.warning("kept the stored reference of %s: an activity from tenant %s named it", key[:80], tenant)
            return
        if row.reference != reference or row.tenant != tenant:
            row.reference, row.tenant, row.updated_at = reference, tenant, now
            await row.save(update_fields=["reference", "tenant", "updated_at"])
        return
    try:
        await ConversationReference.create(platform=PLATFORM, key=key[:255], tenant=tenant, reference=reference,
                                           updated_at=now)
    except IntegrityError:  # a concurrent delivery stored it first
        await ConversationReference.filter(platform=PLATFORM, key=key[:255]).update(
            reference=reference, tenant=tenant, updated_at=now)


async def load(key: str) -> dict[str, Any] | None:
    row = await ConversationReference.filter(platform=PLATFORM, key=key[:255]).first()
    return dict(row.reference) if row is not None and isinstance(row.reference, dict) else None


async def binding_of(activity: dict[str, Any]) -> ChannelBinding | None:
    """The configured channel an activity happened in (None for 1:1 chats and unknown places)."""
    conv = conversation_of(activity)
    if conv.is_personal:
        return None
    return await ChannelBinding.filter(platform=PLATFORM, channel=conv.channel).first()


async def remember(activity: dict[str, Any], now: datetime, binding: ChannelBinding | None) -> None:
    """Keep what a later proactive post needs from any inbound activity (message, install, update).

    `binding` is binding_of(activity), looked up once by the caller."""
    conv = conversation_of(activity)
    tenant = tenant_of(activity) or None
    if binding is not None and binding.tenant and binding.tenant != tenant:
        log.warning("ignored a reference for %s from tenant %s: the channel belongs to tenant %s",
                    conv.channel, tenant, binding.tenant)
        return
    raw: dict[str, Any] = activity["conversation"] if isinstance(activity.get("conversation"), dict) else {}
    bot = _account(activity.get("recipient"))
    base: dict[str, Any] = {"serviceUrl": activity["serviceUrl"], "channelId": activity.get("channelId") or "msteams"}
    if bot:
        base["bot"] = bot
    if activity.get("type") == "installationUpdate" and str(activity.get("action", "")).startswith("remove"):
        await forget(activity)
        return
    reference = {**base, "conversation": {"id": conv.channel, "conversationType": conv.kind,
                                          "isGroup": bool(raw.get("isGroup", conv.kind != "personal")),
                                          **({"tenantId": tenant} if tenant else {})}}
    await save(conv.channel, tenant, reference, now)
    if tenant:
        await save(f"tenant:{tenant}", tenant, base, now)
    user = _account(activity.get("from"))
    if conv.is_personal and user and not user["id"].startswith("28:"):
        personal = {**reference, "user": user}
        await save(f"user:{user['id']}", tenant, personal, now)
        if user.get("aadObjectId"):
            await save(f"user:{user['aadObjectId']}", tenant, personal, now)


async def forget(activity: dict[str, Any]) -> None:
    """The app was uninstalled from a conversation: its references are stale."""
    conv = conversation_of(activity)
    keys = [conv.channel]
    user = _account(activity.get("from"))
    if conv.is_personal and user:
        keys += [f"user:{user['id']}"] + ([f"user:{user['aadObjectId']}"] if user.get("aadObjectId") else [])
    await ConversationReference.filter(platform=PLATFORM, key__in=keys).delete()


async def service_for(tenant: str | None) -> dict[str, Any] | None:
    """The serviceUrl and bot account to use for a tenant (the most recently seen one when unknown)."""
    if tenant:
        known = await load(f"tenant:{tenant}")
        if known:
            return known
    row = (await ConversationReference.filter(platform=PLATFORM, key__startswith="tenant:")
           .order_by("-updated_at").first())
    return dict(row.reference) if row is not None else None


async def home_tenant() -> str | None:
    """The tenant agents work in: the Teams triage channel's, else the only tenant seen."""
    triage = await ChannelBinding.filter(platform=PLATFORM, purpose="triage").first()
    if triage is not None and triage.tenant:
        return triage.tenant
    rows = await ConversationReference.filter(platform=PLATFORM, key__startswith="tenant:").limit(2)
    return rows[0].tenant if len(rows) == 1 else None
