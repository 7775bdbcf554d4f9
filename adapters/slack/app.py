"""slack-bolt wiring: POST /slack/events (or Socket Mode) -> inbound -> Helpdesk -> Block Kit.

Bolt checks every request's signature and timestamp (older than 5 minutes or a
bad signature -> 401) before a listener runs. Listeners run before the response
is sent (process_before_response): a message event is stored in the inbox (or,
without an inbox worker, processed with the posts it causes queued in the outbox)
before Slack hears 200, so a crash can lose nothing and Slack's retry of an event
finds its key already stored. Only what the
caller alone sees (a slash command's answer, a button's confirmation) is sent
directly; everything else goes through the outbox and SlackSender.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import inbound, render
from adapters.slack.config import SlackConfig
from adapters.slack.files import FileFetcher
from adapters.slack.inbound import PayloadError
from adapters.slack.sender import SlackSender
from bot import intake
from bot.core import Helpdesk
from bot.types import Destination, FileRef, IncomingMessage, Invocation, Outcome, Platform, Reply

log = logging.getLogger("chatdesk.slack")

EVENTS_PATH = "/slack/events"
SLASH_COMMAND = "/helpdesk"
SHORTCUT_CREATE_TICKET = "create_ticket"
SHORTCUT_ADD_TO_TICKET = "add_to_ticket"
SHORTCUTS = (SHORTCUT_CREATE_TICKET, SHORTCUT_ADD_TO_TICKET)
# Events API subscriptions (manifest `bot_events`) and the event types the listeners take.
BOT_EVENTS = ("message.channels", "message.groups", "member_joined_channel", "app_mention", "reaction_added")
EVENT_TYPES = ("message", "member_joined_channel", "app_mention", "reaction_added")
NAME_CACHE_SECONDS = 3600.0  # how long a users.info name is trusted
NAME_CACHE_SIZE = 10_000
API_TIMEOUT = 10  # seconds for one Web API call


# Failures inside chatdesk's own listeners during the current request (see SlackAdapter.handle).
_listener_failures: ContextVar[list[BaseException] | None] = ContextVar("slack_listener_failures", default=None)
Listener = TypeVar("Listener", bound=Callable[..., Awaitable[Any]])


def _guarded(listener: Listener) -> Listener:
    """Note a listener's failure, so a 500 can be told apart from bolt choking on a payload."""

    @functools.wraps(listener)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return await listener(*args, **kwargs)
        except Exception as exc:
            failures = _listener_failures.get()
            if failures is not None:
                failures.append(exc)
            raise

    return run  # type: ignore[return-value]


class _QuietTokenNotice(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN in the environment is unused when it is given a client (which
    carries that very token, plus SLACK_API_URL): expected here, so not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_QuietTokenNotice())


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _form_is_utf8(body: str) -> bool:
    try:
        parse_qsl(body, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


class SlackAdapter:
    """One bolt AsyncApp with chatdesk's listeners, the outbox sender and the file fetcher."""

    def __init__(self, config: SlackConfig, desk: Helpdesk, *, socket_mode: bool = False) -> None:
        if not config.bot_token:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        self.desk = desk
        self._after_ack: set[asyncio.Task[None]] = set()
        self.client = AsyncWebClient(token=config.bot_token, base_url=config.api_url,
                                     timeout=API_TIMEOUT)
        secret = config.signing_secret
        self.signing_secret = secret or ""
        self.verifier = SignatureVerifier(secret) if secret else None  # Socket Mode needs no secret
        self.bolt = AsyncApp(
            client=self.client,
            signing_secret=config.signing_secret or "",
            process_before_response=True,
            request_verification_enabled=not socket_mode,
            # Bolt resets the level of the logger named after the app on every request: keep that
            # logger under slack_bolt so chatdesk's own loggers keep the level they were given.
            name="slack_bolt.chatdesk",
        )
        self.sender = SlackSender(self.client)
        self.files = FileFetcher(config.bot_token, config.api_url)
        self.names: dict[str, tuple[str | None, float]] = {}  # users.info answers: user id -> (name, expiry)
        self.bot_user: str | None = None  # the bot's own user id, once bolt has told it (auth.test)
        desk.after_message.append(self.after_message)
        self._register()

    # -- HTTP --------------------------------------------------------------------------------

    def _signed_bytes(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        """Slack's v0 signature over raw bytes (slack_sdk's verifier needs UTF-8 text)."""
        secret, ts = self.signing_secret, headers.get("X-Slack-Request-Timestamp", "")
        if not secret or not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return False
        expected = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("X-Slack-Signature", ""))

    async def handle(self, request: web.Request) -> web.Response:
        """POST /slack/events: an aiohttp request -> BoltRequest -> BoltResponse -> aiohttp response."""
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not (timestamp.isascii() and timestamp.isdigit()):
            return web.json_response({"error": "invalid request"}, status=401)  # unsigned (bolt would choke on it)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Slack sends UTF-8 only; a signed body that is not is malformed, an unsigned one is a stranger.
            if not self._signed_bytes(raw, request.headers):
                return web.json_response({"error": "invalid request"}, status=401)
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        if request.content_type == "application/x-www-form-urlencoded" and not _form_is_utf8(body):
            # Percent-escapes that decode to something other than UTF-8 (bolt would read them as U+FFFD).
            if not self._signed_bytes(raw, request.headers):
                return web.json_response({"error": "invalid request"}, status=401)
            return web.json_response({"error": "a form value is not UTF-8"}, status=400)
        retry = request.headers.get("X-Slack-Retry-Num")
        if retry:
            log.info("Slack retry %s (%s)", retry, request.headers.get("X-Slack-Retry-Reason", "unknown"))
        if self.bot_user is not None and request.content_type == "application/json":
            answered = await self._message_event(body, request.headers)
            if answered is not None:
                return answered
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
        except Exception:
            # Bolt could not parse the body; only a correctly signed request learns that it was malformed.
            if self.verifier is None or not self.verifier.is_valid_request(body, dict(request.headers)):
                return web.json_response({"error": "invalid request"}, status=401)
            log.warning("a signed Slack request with a malformed body was refused")
            return web.json_response({"error": "malformed payload"}, status=400)
        failures: list[BaseException] = []
        token = _listener_failures.set(failures)
        try:
            response = await self.bolt.async_dispatch(bolt_request)
        except Exception as exc:
            log.warning("refused a Slack payload bolt could not read: %s: %s", type(exc).__name__, exc)
            return web.json_response({"error": "malformed payload"}, status=400)
        finally:
            _listener_failures.reset(token)
        if response.status >= 500 and not failures:
            # Bolt failed before any chatdesk code ran: the payload's shape is wrong, not our state.
            # (A failure in chatdesk's own handling stays a 500, so Slack retries it later and the
            # event id keeps the retry from storing anything twice.)
            return web.json_response({"error": "malformed payload"}, status=400)
        return await to_aiohttp_response(response)

    async def _message_event(self, body: str, headers: Mapping[str, str]) -> web.Response | None:
        """A signed `message` event, stored without bolt's dispatch; None leaves the request to bolt.

        A message event is most of what a busy channel sends, and bolt's dispatch of one (its request
        object, a client per request, middleware, listener matching, argument injection) was half of
        the web server's time per request. This checks what bolt would check for it (the signature and
        a fresh timestamp, with the same verifier) and calls the same code as the `message` listener.
        Anything else, including every request that is not correctly signed, goes to bolt."""
        verifier = self.verifier
        if verifier is None or not verifier.is_valid(body, headers.get("X-Slack-Request-Timestamp", ""),
                                                     headers.get("X-Slack-Signature", "")):
            return None  # (handle has made sure the timestamp is a number)
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("type") != "event_callback" \
                or _dict(payload.get("event")).get("type") != "message":
            return None
        try:
            await self._take_message(payload, self.bot_user)
        except Exception:
            log.exception("storing a Slack message event failed; Slack retries it")
            return web.Response(status=500)
        return web.Response(status=200)

    async def start(self) -> None:
        import aiohttp

        if self.client.session is None:
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))

    def after_ack(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` once the listener has returned: with process_before_response Slack gets its HTTP
        answer only then, so a slow chat.postEphemeral or views.open must not stand in front of it."""
        task = asyncio.create_task(work)
        self._after_ack.add(task)
        task.add_done_callback(self._after_ack.discard)

    async def settled(self) -> None:
        """Wait for the posts that follow acknowledgements (tests, and shutdown)."""
        while self._after_ack:
            await asyncio.gather(*list(self._after_ack), return_exceptions=True)

    async def close(self) -> None:
        await self.settled()
        await self.files.close()
        session, self.client.session = self.client.session, None
        if session is not None:
            await session.close()

    # -- listeners ---------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.bolt
        guard = _guarded
        listeners: dict[str, Callable[..., Awaitable[None]]] = {"message": self.on_message,
                                                                "reaction_added": self.on_reaction}
        for event_type in EVENT_TYPES:
            # app_mention and member_joined_channel are acknowledged only: the message event
            # carries a mention's text, and a join changes nothing until the person writes.
            app.event(event_type)(guard(listeners.get(event_type, self.on_ignored_event)))
        app.event(re.compile(".*"))(guard(self.on_ignored_event))  # anything subscribed later: acknowledged
        app.command(SLASH_COMMAND)(guard(self.on_command))
        app.action(re.compile(f"^{render.RUN_PREFIX}\\d+$"))(guard(self.on_button))
        app.action(re.compile(f"^{render.ASK_PREFIX}\\d+$"))(guard(self.on_input_button))
        app.shortcut(SHORTCUT_CREATE_TICKET)(guard(self.on_create_ticket))
        app.shortcut(SHORTCUT_ADD_TO_TICKET)(guard(self.on_add_to_ticket))
        app.view(render.INPUT_VIEW)(guard(self.on_input_submitted))
        app.view(render.ADD_TO_TICKET_VIEW)(guard(self.on_add_to_ticket_submitted))

    async def on_message(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        if context.bot_user_id:
            self.bot_user = context.bot_user_id  # from now on message events skip bolt (_message_event)
        await self._take_message(body, context.bot_user_id)

    async def _take_message(self, body: dict[str, Any], bot_user: str | None) -> None:
        try:
            msg = inbound.message_event(body, bot_user)
        except PayloadError as exc:
            log.warning("ignored a malformed message event: %s", exc)
            return
        if msg is None or msg.from_bot:
            return
        await self.desk.accept_message(msg)

    async def on_reaction(self, body: dict[str, Any]) -> None:
        try:
            added = inbound.reaction_event(body)
        except PayloadError as exc:
            log.warning("ignored a malformed reaction event: %s", exc)
            return
        if added is None:
            return
        outcome = await self.desk.handle_reaction(added)
        if outcome.ticket_key and outcome.files:
            self._fetch(outcome.files)

    def after_message(self, msg: IncomingMessage, outcome: Outcome) -> None:
        """A message is stored: fetch the files it brought (their rows are committed by now), and
        learn the author's name when the event did not carry it."""
        if msg.place.platform != Platform.SLACK or outcome.duplicate or msg.edited or msg.deleted:
            return
        if outcome.ticket_key and msg.files:
            self._fetch(msg.files)
        if msg.actor.display_name is None and msg.actor.user_id != "unknown":
            self._later(self._learn_name(msg.actor.user_id))

    def _later(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.files.tasks.add(task)  # waited for and cancelled with the downloads
        task.add_done_callback(self.files.tasks.discard)

    def _fetch(self, files: tuple[FileRef, ...]) -> None:
        """Download files worth keeping; stubs from another organisation are described first."""
        self.files.fetch_later(f for f in files if not f.needs_info)
        for stub in (f for f in files if f.needs_info and f.platform_file_id):
            self._later(self._complete(stub.platform_file_id or ""))

    async def _complete(self, file_id: str) -> None:
        """files.info for a Slack Connect stub, then the logo filter, then the usual download."""
        try:
            answer = await self.client.files_info(file=file_id)
        except SlackApiError as exc:
            log.warning("files.info %s: %s", file_id, exc.response.get("error"))
            return
        except Exception as exc:
            log.warning("files.info %s: %s: %s", file_id, type(exc).__name__, exc)
            return
        info = answer.get("file")
        full = inbound.file_ref(info) if isinstance(info, dict) else None
        if full is None or full.needs_info:
            log.warning("files.info %s did not describe the file", file_id)
            return
        if await intake.complete_file(file_id, full):
            self.files.fetch_later([full])

    async def _learn_name(self, user_id: str) -> None:
        """The contact's name from users.info (cached), where the event carried none."""
        name = await self.user_name(user_id)
        if name:
            await intake.name_contact(Platform.SLACK, user_id, name)

    async def user_name(self, user_id: str) -> str | None:
        now = time.monotonic()
        cached = self.names.get(user_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            answer = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.info("users.info %s: %s", user_id, exc.response.get("error"))
            return None
        except Exception as exc:
            log.info("users.info %s: %s: %s", user_id, type(exc).__name__, exc)
            return None
        user = _dict(answer.get("user"))
        profile = _dict(user.get("profile"))
        name = (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                or user.get("name") or None)
        if len(self.names) >= NAME_CACHE_SIZE:
            self.names.pop(next(iter(self.names)))
        self.names[user_id] = (name if isinstance(name, str) else None, now + NAME_CACHE_SECONDS)
        return self.names[user_id][0]

    async def on_ignored_event(self, body: dict[str, Any]) -> None:
        return None

    async def on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            inv = inbound.slash_command(body)
        except PayloadError as exc:
            await ack(response_type="ephemeral", text=f"chatdesk could not read that command: {exc}")
            return
        outcome = await self.desk.handle_invocation(inv)
        if not outcome.replies:
            await ack()
            return
        message = render.render_many(outcome.replies, self._caller(inv))
        await ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    async def on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            inv = inbound.block_action(body)
        except PayloadError as exc:
            log.warning("ignored a malformed button press: %s", exc)
            return
        outcome = await self.desk.handle_invocation(inv)
        self.after_ack(self.tell_caller(inv, outcome.replies, body.get("response_url")))

    async def on_input_button(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        try:
            inv = inbound.block_action(body)
        except PayloadError as exc:
            log.warning("ignored a malformed button press: %s", exc)
            return
        action = body["actions"][0]
        message = _dict(body.get("message"))
        prompt = render.prompt_for(action, message.get("blocks") or ())
        label = (action.get("text") or {}).get("text") or "chatdesk"
        meta = {"kind": "input", "command": inv.text, "channel": inv.place.channel, "thread": inv.place.thread}
        self.after_ack(self._open(client, body, render.input_modal(label, prompt, meta), inv,
                                  body.get("response_url")))

    async def on_create_ticket(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """"Create ticket" on a message. A top-level message in a customer channel that chatdesk has
        not seen (posted before the bot joined, say) is handled as if it had just arrived, so the
        ticket belongs to its author and lives in its thread; anything else becomes `new <text>`
        by whoever used the shortcut."""
        await ack()
        try:
            msg = inbound.shortcut_message(body)
            if msg is not None and msg.place.thread in (None, msg.message_id):
                outcome = await self.desk.handle_message(msg)
                caller = inbound.shortcut_new(body)  # who used the shortcut, and where
                if outcome.duplicate:
                    self.after_ack(self.tell_caller(caller, [Reply("That message is already part of a ticket.")],
                                                    body.get("response_url")))
                    return
                if outcome.ticket_key:
                    text = f"Opened {outcome.ticket_key} from that message; chatdesk answered in its thread."
                    self.after_ack(self.tell_caller(caller, [Reply(text, ticket_key=outcome.ticket_key)],
                                                    body.get("response_url")))
                    return
            inv = inbound.shortcut_new(body)
        except PayloadError as exc:
            log.warning("ignored a malformed shortcut: %s", exc)
            return
        outcome = await self.desk.handle_invocation(inv)
        self.after_ack(self.tell_caller(inv, outcome.replies, body.get("response_url")))

    async def on_add_to_ticket(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = _dict(body.get("message"))
        channel = (body.get("channel") or {}).get("id", "")
        meta = {"kind": "add_to_ticket", "channel": channel, "thread": message.get("thread_ts"),
                "ts": message.get("ts"), "author": message.get("user") or message.get("bot_id"),
                "text": message.get("text") or ""}
        view = render.input_modal("Add to ticket", "Ticket key (the message is added as an internal note)", meta,
                                  callback_id=render.ADD_TO_TICKET_VIEW, placeholder="ACME-7", submit="Add")
        self.after_ack(self._open(client, body, view, None, body.get("response_url")))

    async def on_input_submitted(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            inv = inbound.view_submission(body, inbound.input_command(body.get("view") or {}))
        except PayloadError as exc:
            await ack(response_action="errors", errors={render.INPUT_BLOCK: str(exc)})
            return
        await self._submit(ack, inv)

    async def on_add_to_ticket_submitted(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        key = inbound.modal_input(view)
        if not key or len(key.split()) != 1:
            await ack(response_action="errors", errors={render.INPUT_BLOCK: "Type one ticket key, like ACME-7."})
            return
        try:
            inv = inbound.view_submission(body, inbound.add_to_ticket_command(view))
        except PayloadError as exc:
            await ack(response_action="errors", errors={render.INPUT_BLOCK: str(exc)})
            return
        await self._submit(ack, inv)

    async def _submit(self, ack: AsyncAck, inv: Invocation) -> None:
        """Run a modal's command; errors and refusals show in the modal, next to the input."""
        outcome: Outcome = await self.desk.handle_invocation(inv)
        problems = [r.text for r in outcome.replies if r.kind in ("error", "refusal")]
        if problems:
            await ack(response_action="errors", errors={render.INPUT_BLOCK: "\n".join(problems)[:2000]})
            return
        await ack()
        self.after_ack(self.tell_caller(inv, outcome.replies, None))

    # -- answering the caller ----------------------------------------------------------------

    @staticmethod
    def _caller(inv: Invocation) -> Destination:
        place = inv.place
        return Destination(Platform.SLACK, place.tenant, place.channel or None, place.thread,
                           user=inv.actor.user_id, customer_visible=False)

    async def tell_caller(self, inv: Invocation, replies: tuple[Reply, ...] | list[Reply],
                          response_url: Any) -> None:
        """Only the caller sees these: an ephemeral message in the channel, else via the response_url,
        else a direct message. A failure here is logged; the change itself is already stored."""
        if not replies:
            return
        message = render.render_many(list(replies), self._caller(inv))
        user = inv.actor.user_id
        channel = inv.place.channel
        try:
            if channel:
                kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": message.text,
                                          "blocks": message.blocks}
                if inv.place.thread:
                    kwargs["thread_ts"] = inv.place.thread
                await self.client.chat_postEphemeral(**kwargs)
            else:
                await self.client.chat_postMessage(channel=user, text=message.text, blocks=message.blocks)
            return
        except SlackApiError as exc:
            log.info("could not answer %s ephemerally: %s", inv.event_id, exc.response.get("error"))
        except Exception as exc:
            log.warning("could not answer %s: %s: %s", inv.event_id, type(exc).__name__, exc)
        if isinstance(response_url, str) and response_url.startswith("https://"):
            try:
                await AsyncWebhookClient(response_url, timeout=API_TIMEOUT).send(
                    text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)
            except Exception as exc:
                log.warning("could not answer %s through the response_url: %s", inv.event_id, exc)

    async def _open(self, client: AsyncWebClient, body: dict[str, Any], view: dict[str, Any],
                    inv: Invocation | None, response_url: Any) -> None:
        trigger = body.get("trigger_id")
        try:
            if not isinstance(trigger, str) or not trigger:
                raise PayloadError("no trigger_id to open a modal with")
            await client.views_open(trigger_id=trigger, view=view)
        except (SlackApiError, PayloadError) as exc:
            log.warning("could not open a modal: %s", exc)
            if inv is not None:
                await self.tell_caller(inv, [Reply("chatdesk could not open the form; use the slash command: "
                                                   f"`{SLASH_COMMAND} {inv.text} …`", kind="error")], response_url)


SLACK = web.AppKey("slack", SlackAdapter)


def mount(app: web.Application, config: SlackConfig, desk: Helpdesk) -> SlackSender | None:
    """Serve Slack at POST /slack/events; None when SLACK_BOT_TOKEN/SLACK_SIGNING_SECRET are unset."""
    if not config.http_enabled:
        return None
    adapter = SlackAdapter(config, desk)
    app[SLACK] = adapter
    app.router.add_post(EVENTS_PATH, adapter.handle)

    async def on_startup(_: web.Application) -> None:
        await adapter.start()

    async def on_shutdown(_: web.Application) -> None:
        await adapter.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return adapter.sender
