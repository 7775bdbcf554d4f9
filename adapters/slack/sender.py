"""The outbox's Slack sender: one queued reply -> one chat.postMessage."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import InternalReplyError, metadata, render
from bot.types import Destination, Reply
from storage.outbox import DeliveryError

log = logging.getLogger("chatdesk.slack")

# Slack errors that another attempt cannot fix: the post fails for good.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "restricted_action", "user_not_found",
    "cannot_dm_bot", "msg_too_long", "no_text", "invalid_blocks", "invalid_arguments", "team_access_not_granted",
    "ekm_access_denied", "org_login_required", "invalid_metadata_format", "invalid_metadata_schema",
})
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})


def delivery_error(exc: SlackApiError) -> DeliveryError:
    """Classify a Web API failure: 429 carries Retry-After, 5xx and known hiccups are retried,
    everything else (channel_not_found, invalid_auth ...) is permanent."""
    response = exc.response
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) or {}
    error = ""
    try:
        error = str(response.get("error") or "")
    except Exception:  # a body that is not JSON
        error = ""
    text = f"chat.postMessage: HTTP {status} {error}".strip()
    if status == 429 or error == "ratelimited":
        retry_after = _retry_after(headers)
        return DeliveryError(text, retry_after=retry_after if retry_after is not None else 30.0)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return DeliveryError(text)
    return DeliveryError(text, permanent=True)


def _retry_after(headers: object) -> float | None:
    value = None
    if hasattr(headers, "get"):
        value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class SlackSender:
    """Posts queued replies with chat.postMessage and returns the new message's ts."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        try:
            message = render(reply, destination)
        except InternalReplyError as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        channel = destination.channel or destination.user
        if not channel:
            raise DeliveryError("a Slack destination needs a channel or a user", permanent=True)
        kwargs: dict[str, object] = {
            "channel": channel, "text": message.text, "blocks": message.blocks, "metadata": metadata(reply),
            "unfurl_links": False, "unfurl_media": False,
        }
        if destination.thread:
            kwargs["thread_ts"] = destination.thread
        try:
            try:
                response = await self.client.chat_postMessage(**kwargs)  # type: ignore[arg-type]
            except SlackApiError as exc:
                if _error(exc) != "invalid_blocks":
                    raise
                # Blocks Slack will not take must not lose the message: post the text alone.
                log.warning("Slack refused the blocks of a %s post; sending text only", reply.kind)
                kwargs.pop("blocks")
                response = await self.client.chat_postMessage(**kwargs)  # type: ignore[arg-type]
        except SlackApiError as exc:
            raise delivery_error(exc) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"chat.postMessage: {type(exc).__name__}: {exc}") from None
        ts = response.get("ts")
        return str(ts) if ts else None


def _error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "")
    except Exception:
        return ""
