"""The outbox's Slack sender: one queued reply -> one chat.postMessage.

Every post is tagged with message metadata carrying the reply's dedupe key
(render.metadata). When the outbox retries a row that an earlier attempt may have
posted, `find_posted` reads the thread (conversations.replies) or the channel
(conversations.history) back from a little before the row was queued, with
include_all_metadata, and reports the post it finds, so it is not posted twice.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import metadata, render
from bot.types import Destination, Reply
from storage.outbox import DeliveryError
from storage.retry import retry_after

log = logging.getLogger("chatdesk.slack")

# Slack errors another attempt may fix; every other error fails the post for good.
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})
METADATA_EVENT = "chatdesk_post"  # render.metadata's event_type
HISTORY_SKEW = 120.0  # seconds read back before the row was queued (clock skew between us and Slack)
HISTORY_PAGE = 200  # messages per conversations.replies/history page
HISTORY_PAGES = 25  # pages read at most; a post not found within them is posted (at least once, never lost)


def delivery_error(exc: SlackApiError, method: str = "chat.postMessage") -> DeliveryError:
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
    text = f"{method}: HTTP {status} {error}".strip()
    if status == 429 or error == "ratelimited":
        wait = retry_after(headers.get("Retry-After") or headers.get("retry-after")) \
            if hasattr(headers, "get") else None
        return DeliveryError(text, retry_after=wait if wait is not None else 30.0)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return DeliveryError(text)
    return DeliveryError(text, permanent=True)


class SlackSender:
    """Posts queued replies with chat.postMessage and returns the new message's ts."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    def _poster(self) -> AsyncWebClient:
        """The client without slack_sdk's own retry of a dropped connection: a post whose answer was
        lost may well be in the channel, and only the outbox's next attempt checks for that."""
        poster = copy.copy(self.client)
        poster.retry_handlers = []
        return poster

    async def send(self, destination: Destination, reply: Reply) -> str | None:
        message = render(reply, destination)
        channel = destination.channel or destination.user
        if not channel:
            raise DeliveryError("a Slack destination needs a channel or a user", permanent=True)
        kwargs: dict[str, object] = {
            "channel": channel, "text": message.text, "blocks": message.blocks, "metadata": metadata(reply),
            "unfurl_links": False, "unfurl_media": False,
        }
        if destination.thread:
            kwargs["thread_ts"] = destination.thread
        client = self._poster()
        try:
            try:
                response = await client.chat_postMessage(**kwargs)  # type: ignore[arg-type]
            except SlackApiError as exc:
                if _error(exc) != "invalid_blocks":
                    raise
                # Blocks Slack will not take must not lose the message: post the text alone.
                log.warning("Slack refused the blocks of a %s post; sending text only", reply.kind)
                kwargs.pop("blocks")
                response = await client.chat_postMessage(**kwargs)  # type: ignore[arg-type]
        except SlackApiError as exc:
            raise delivery_error(exc) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"chat.postMessage: {type(exc).__name__}: {exc}") from None
        ts = response.get("ts")
        return str(ts) if ts else None

    async def find_posted(self, destination: Destination, reply: Reply, since: datetime) -> str | None:
        """The ts of a message tagged with this reply's dedupe key, posted in its thread (or channel,
        or DM) since shortly before `since`; None when there is none. A read Slack refuses for now
        (429, 5xx, network) raises DeliveryError: the row waits rather than risk a second post."""
        if not reply.dedupe:
            return None
        method = "conversations.open"
        try:
            channel = destination.channel or await self._dm_channel(destination.user)
            if not channel:
                return None
            method = "conversations.replies" if destination.thread else "conversations.history"
            args: dict[str, Any] = {"channel": channel, "oldest": f"{since.timestamp() - HISTORY_SKEW:.6f}",
                                    "limit": HISTORY_PAGE, "include_all_metadata": True}
            for _ in range(HISTORY_PAGES):
                if destination.thread:
                    page = await self.client.conversations_replies(ts=destination.thread, **args)
                else:
                    page = await self.client.conversations_history(**args)
                for message in page.get("messages") or ():
                    if _tagged(message, reply.dedupe) and message.get("ts"):
                        return str(message["ts"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
                args["cursor"] = cursor
        except SlackApiError as exc:
            error = delivery_error(exc, method)
            if not error.permanent:
                raise error from None
            # Unreadable for good (a missing scope, say): posting again risks a double, not a loss.
            log.warning("cannot read back %s before a retry (%s); posting it again", reply.dedupe, error)
            return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{method}: {type(exc).__name__}: {exc}") from None
        log.warning("%s not found within %s pages of history; posting it again", reply.dedupe, HISTORY_PAGES)
        return None

    async def _dm_channel(self, user: str | None) -> str | None:
        """The id of the bot's DM channel with a user (a post to a user id lands there)."""
        if not user:
            return None
        response = await self.client.conversations_open(users=user)
        channel = response.get("channel") or {}
        return str(channel["id"]) if isinstance(channel, dict) and channel.get("id") else None


def _tagged(message: dict[str, Any], dedupe: str) -> bool:
    metadata = message.get("metadata") or {}
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT:
        return False
    payload = metadata.get("event_payload") or {}
    return isinstance(payload, dict) and payload.get("dedupe") == dedupe


def _error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "")
    except Exception:
        return ""
