"""Teams wiring: POST /api/messages -> the helpdesk, and a TeamsSender for the outbox.

Every request is checked before botbuilder sees it, because botbuilder 4.17 answers
500 for some malformed bodies, swallows others, and posts to the public Bot
Framework host when an activity has no serviceUrl. Bad input gets a 4xx.

What is trusted:
- With MICROSOFT_APP_ID set, a request needs a valid Bot Framework JWT (else 401,
  nothing stored), and the activity's serviceUrl is used only when the token's
  `serviceurl` claim vouches for it: replies go back only to Microsoft's connector.
- Without it the route does not exist, unless CHATDESK_TEAMS_EMULATOR=1 switches on
  emulator mode for a local test client: no token is checked, so the server must
  listen on loopback only, and only loopback service URLs are accepted.

Commands are answered in the turn (a reply to the command's activity); everything
else goes through the outbox and the TeamsSender.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticateRequestResult, ClaimsIdentity, ConnectorFactory

from adapters.teams import inbound, references, render
from adapters.teams.config import TeamsConfig, is_loopback_host
from adapters.teams.sender import TeamsSender
from bot.access import welcome
from bot.core import Helpdesk
from bot.identity import find_person
from bot.types import Destination, IncomingMessage, Invocation, Place, Platform, Reply
from storage import outbox

log = logging.getLogger("chatdesk.teams")

MESSAGE_TYPES = ("message", "messageUpdate", "messageDelete")
CONNECTOR_TIMEOUT = 30  # seconds for one call to the Bot Framework connector


class _Configuration:
    """The settings object ConfigurationBotFrameworkAuthentication reads (APP_ID, APP_PASSWORD, ...)."""

    def __init__(self, config: TeamsConfig) -> None:
        self.APP_ID = config.app_id
        self.APP_PASSWORD = config.app_password
        self.APP_TENANTID = config.tenant_id
        self.APP_TYPE = "SingleTenant" if config.tenant_id and config.app_id else "MultiTenant"


class _Connectors(ConnectorFactory):  # type: ignore[misc]
    """Connector clients that fail fast: the outbox retries and honours Retry-After, not the HTTP library."""

    def __init__(self, inner: ConnectorFactory) -> None:
        self._inner = inner

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        client = await self._inner.create(service_url, audience)
        config = client.config
        config.retry_policy.retries = 0
        config.retry_policy.policy.status_forcelist = frozenset()
        config.connection.timeout = CONNECTOR_TIMEOUT
        return client


class _Authentication(ConfigurationBotFrameworkAuthentication):  # type: ignore[misc]
    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await super().authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = _Connectors(result.connector_factory)
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _Connectors(super().create_connector_factory(claims_identity))


def _signed_token(header: str) -> bool:
    """Whether the Authorization header holds an RS256 JWT with a key id; others are refused unread."""
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or token.count(".") != 2:
        return False
    head = token.split(".", 1)[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(data, dict) and data.get("alg") == "RS256" and bool(data.get("kid"))


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")
    except ValueError:
        return False


def vouched_service_url(claims: dict[str, Any], service_url: str) -> bool:
    """Whether the validated token names this serviceUrl (botbuilder skips the check for some token kinds)."""
    claimed = claims.get("serviceurl")
    return isinstance(claimed, str) and claimed.rstrip("/").lower() == service_url.rstrip("/").lower()


def conv_id(context: TurnContext) -> str:
    return str(context.activity.conversation.id or "")


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class TeamsBot:
    def __init__(self, adapter: CloudAdapter, desk: Helpdesk, app_id: str) -> None:
        self.adapter = adapter
        self.desk = desk
        self.app_id = app_id  # empty: emulator mode (mount() allows it only on loopback)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPException as exc:  # 413 for bodies over the server's limit
            return _problem(exc.status, exc.reason)
        try:
            activity = inbound.check(json.loads(body))
            parsed = Activity().deserialize(activity)
        except inbound.MalformedActivity as exc:
            return _problem(400, str(exc))
        except Exception:
            return _problem(400, "the body is not a valid Bot Framework activity")
        header = ""
        if self.app_id:
            header = request.headers.get("Authorization", "")
            if not _signed_token(header):
                return _problem(401, "a signed Bot Framework token is required")
        elif not is_loopback_host(request.remote or ""):
            return _problem(403, "emulator mode accepts requests from this machine only")
        elif not is_loopback_url(activity["serviceUrl"]):
            log.warning("Teams emulator: refused an activity whose serviceUrl is not on loopback")
            return _problem(403, "emulator mode accepts only loopback service URLs")
        try:
            auth = await self.adapter.bot_framework_authentication.authenticate_request(parsed, header)
        except Exception as exc:
            log.warning("Teams request refused: %s: %s", type(exc).__name__, exc)
            return _problem(401, "the Bot Framework token is not valid")
        if self.app_id:
            claims = getattr(auth.claims_identity, "claims", None) or {}
            if not vouched_service_url(claims, activity["serviceUrl"]):
                log.warning("Teams request refused: the token does not vouch for its serviceUrl")
                return _problem(401, "the Bot Framework token does not vouch for this serviceUrl")

        async def turn(context: TurnContext) -> None:
            await self._turn(context, activity)

        try:
            await self.adapter.process_activity(auth, parsed, turn)
        except Exception:
            log.exception("Teams activity %s failed", activity.get("id"))
            return _problem(500, "the activity could not be handled; it may be retried")
        if activity["type"] == "invoke":
            return web.json_response({}, status=200)
        return web.Response(status=200)

    async def _turn(self, context: TurnContext, activity: dict[str, Any]) -> None:
        binding = await references.binding_of(activity)
        await references.remember(activity, self.desk.clock.now(), binding)
        if inbound.is_personal_install(activity):
            # Someone added chatdesk to their own chat: a welcome card, or how to get access.
            conv = inbound.conversation_of(activity)
            place = Place(Platform.TEAMS, conv.tenant, conv.channel, None, is_direct=True)
            reply = await welcome(inbound.actor_of(activity), place)
            here = Destination(Platform.TEAMS, conv.tenant, conv.channel)
            await context.send_activity(Activity().deserialize(render.message(reply, here)))
        if activity["type"] == "messageReaction":
            for added in inbound.reactions_added(activity):
                await self.desk.handle_reaction(added)
            return
        if activity["type"] not in MESSAGE_TYPES:
            return
        conv = inbound.conversation_of(activity)
        purpose = binding.purpose if binding is not None else None
        agent = False
        if purpose == "triage":
            actor = inbound.actor_of(activity)
            agent = await find_person(Platform.TEAMS, actor.user_id, actor.aad_object_id) is not None
        event = inbound.translate(activity, purpose=purpose, sender_is_agent=agent)
        if isinstance(event, IncomingMessage):
            await self.desk.handle_message(event)
        elif isinstance(event, Invocation):
            if conv.kind == "groupChat":
                event = replace(event, place=replace(event.place, members=await self._members(context)))
            outcome = await self.desk.handle_invocation(event)
            if event.place.thread and not event.place.is_direct and inbound.THREAD_MARK not in conv_id(context):
                # A top-level channel post: answer in its thread, not as a new post in the channel.
                context.activity.conversation.id = f"{event.place.channel}{inbound.THREAD_MARK}{event.place.thread}"
            for reply in outcome.replies:
                await self._answer(context, event, reply)

    @staticmethod
    async def _members(context: TurnContext) -> tuple[str, ...] | None:
        """Everyone in a group chat, by 29: id and Azure AD id; None when the roster cannot be read."""
        try:
            members = await TeamsInfo.get_members(context)
        except Exception as exc:
            log.info("Teams roster of a group chat unavailable (%s): %s", type(exc).__name__, exc)
            return None
        ids = tuple("|".join(i for i in (m.id, getattr(m, "aad_object_id", None)) if i) for m in members or ())
        return ids if ids and all(ids) else None

    async def _answer(self, context: TurnContext, event: Invocation, reply: Reply) -> None:
        """Answer the command in its conversation (the core has kept back what may not be read there)."""
        place = event.place
        here = Destination(Platform.TEAMS, place.tenant, place.channel, place.thread)
        try:
            await context.send_activity(Activity().deserialize(render.message(reply)))
        except Exception as exc:
            log.warning("Teams reply to %s failed (%s); queued for the outbox", event.event_id, exc)
            private = Destination(Platform.TEAMS, place.tenant, user=event.actor.user_id)
            await self._queue(private if place.is_direct else here, reply)

    async def _queue(self, destination: Destination, reply: Reply) -> None:
        await outbox.enqueue(destination, reply, self.desk.clock.now())
        if self.desk.on_queued:
            self.desk.on_queued()


def mount(app: web.Application, config: TeamsConfig, desk: Helpdesk) -> TeamsSender | None:
    """Serve POST /api/messages and return the sender the outbox delivers Teams posts with.

    Without MICROSOFT_APP_ID (and without the emulator switched on) Teams is off: no route.
    """
    config.check()
    if not config.enabled:
        return None
    if config.emulating:
        log.warning("Teams: EMULATOR MODE (CHATDESK_TEAMS_EMULATOR=1): Teams requests are not authenticated; "
                    "only loopback clients and service URLs are accepted")
    elif config.emulator:
        log.warning("Teams: CHATDESK_TEAMS_EMULATOR is ignored because MICROSOFT_APP_ID is set")
    adapter = CloudAdapter(_Authentication(_Configuration(config)))
    bot = TeamsBot(adapter, desk, config.app_id)
    app.router.add_post("/api/messages", bot.handle)
    return TeamsSender(adapter, config.app_id, config.tenant_id, clock=desk.clock)
