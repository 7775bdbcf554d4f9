"""Read the support mailbox over IMAP (aioimaplib): unseen mail in, flagged only once it is stored.

Each unseen mail is fetched with BODY.PEEK[] (reading does not mark it), handed to the core,
and only after the core's transaction committed is it flagged \\Seen (or moved to the
unknown folder). A crash in between leaves it unseen: it is read again and the core
recognises its Message-ID, so nothing changes twice and nothing is lost. Mail the core
leaves for a human stays unseen unless CHATDESK_IMAP_UNKNOWN_FOLDER names a folder for it.

Between polls the poller waits in IDLE when the server offers it (new mail wakes it at
once), else it sleeps CHATDESK_IMAP_POLL_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable

import aioimaplib

from adapters.email.config import MailConfig
from adapters.email.parse import parse_mail
from bot.mail import IncomingMail, MailAction, MailOutcome

log = logging.getLogger("chatdesk.mail")

Handle = Callable[[IncomingMail], Awaitable[MailOutcome]]
TIMEOUT = 120.0  # seconds for one IMAP command (a 30 MB mail takes a while on a slow line)
RECONNECT = (1.0, 60.0)  # back-off after a failed poll, doubling


class ImapError(Exception):
    pass


class ImapPoller:
    def __init__(self, settings: MailConfig, handle: Handle) -> None:
        assert settings.imap is not None
        self.settings = settings
        self.url = settings.imap
        self.handle = handle
        self.client: aioimaplib.IMAP4 | None = None
        self.left: set[str] = set()  # "uidvalidity:uid" of mail left unseen for a human, not re-read
        self.uidvalidity = ""
        self._folder_ready = False

    # -- connection ----------------------------------------------------------------------------

    async def connect(self) -> aioimaplib.IMAP4:
        if self.client is not None and self.client.get_state() == "SELECTED":
            return self.client
        await self.close()
        url = self.url
        if url.tls:
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(url.host, url.port, timeout=TIMEOUT,
                                                            ssl_context=ssl.create_default_context())
        else:
            client = aioimaplib.IMAP4(url.host, url.port, timeout=TIMEOUT)
        try:
            await client.wait_hello_from_server()
            ok(await client.login(url.username or "", url.password or ""), "LOGIN")
            response = ok(await client.select(quote(url.folder)), f"SELECT {url.folder}")
        except (TimeoutError, OSError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"{url.describe()}: {type(exc).__name__}: {exc}") from None
        for line in response.lines:
            match = re.search(rb"UIDVALIDITY (\d+)", bytes(line))
            if match:
                self.uidvalidity = match.group(1).decode()
        self.client = client
        return client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 5)

    # -- one poll ------------------------------------------------------------------------------

    async def poll_once(self) -> Counter[str]:
        """Read every unseen mail once; returns how many had each outcome."""
        client = await self.connect()
        response = ok(await client.uid_search("UNSEEN", charset=None), "UID SEARCH UNSEEN")
        uids = [int(u) for line in response.lines[:-1] for u in bytes(line).split() if u.isdigit()]
        counts: Counter[str] = Counter()
        for uid in sorted(uids):
            key = f"{self.uidvalidity}:{uid}"
            if key in self.left:
                continue
            raw = await self.fetch(client, uid)
            if raw is None:
                continue
            mail = parse_mail(raw, self.settings.mailbox)
            try:
                outcome = await self.handle(mail)
            except Exception:
                # Left unseen: the next poll tries again; nothing was committed.
                log.exception("mail %s (uid %s) could not be stored; it stays unseen and is tried again",
                              mail.message_id, uid)
                counts["failed"] += 1
                continue
            await self.done(client, uid, outcome)
            counts[outcome.action.value] += 1
        return counts

    async def fetch(self, client: aioimaplib.IMAP4, uid: int) -> bytes | None:
        response = ok(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), f"UID FETCH {uid}")
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        log.warning("mail uid %s: the server sent no body; skipped this time", uid)
        return None

    async def done(self, client: aioimaplib.IMAP4, uid: int, outcome: MailOutcome) -> None:
        """Mark a mail handled: flagged \\Seen, or moved/left for a human. Runs after the commit."""
        if outcome.action == MailAction.UNKNOWN:
            folder = self.settings.unknown_folder
            if folder is None:
                log.info("mail uid %s left unseen for a human: %s", uid, outcome.reason)
                self.left.add(f"{self.uidvalidity}:{uid}")
                return
            await self._ensure_folder(client, folder)
            if client.has_capability("MOVE"):
                ok(await client.uid("move", str(uid), quote(folder)), f"UID MOVE {uid}")
            else:
                ok(await client.uid("copy", str(uid), quote(folder)), f"UID COPY {uid}")
                ok(await client.uid("store", str(uid), "+FLAGS", "(\\Deleted)"), f"UID STORE {uid}")
                with contextlib.suppress(aioimaplib.AioImapException):
                    await client.uid("expunge", str(uid))
            log.info("mail uid %s moved to %s for a human: %s", uid, folder, outcome.reason)
            return
        ok(await client.uid("store", str(uid), "+FLAGS", "(\\Seen)"), f"UID STORE {uid}")

    async def _ensure_folder(self, client: aioimaplib.IMAP4, folder: str) -> None:
        if self._folder_ready:
            return
        await client.create(quote(folder))  # NO when it exists already; either way it is there now
        self._folder_ready = True

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        delay = RECONNECT[0]
        log.info("reading mail from %s (IDLE where offered, else every %ss)", self.url.describe(),
                 self.settings.poll_seconds)
        while not stop.is_set():
            try:
                counts = await self.poll_once()
                if counts:
                    log.info("mail poll: %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
                delay = RECONNECT[0]
                await self.wait(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("mail poll failed (%s); retrying in %.0fs", exc, delay)
                await self.close()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(RECONNECT[1], delay * 2)
        await self.close()

    async def wait(self, stop: asyncio.Event) -> None:
        """Until new mail, the poll interval or stop, whichever comes first."""
        client = self.client
        timeout = self.settings.poll_seconds
        stopper = asyncio.ensure_future(stop.wait())
        try:
            if client is None or not client.has_capability("IDLE"):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stopper), timeout=timeout)
                return
            idle = await client.idle_start(timeout=timeout)
            push = asyncio.ensure_future(client.wait_server_push(timeout=timeout + 5))
            await asyncio.wait({push, stopper}, return_when=asyncio.FIRST_COMPLETED, timeout=timeout + 5)
            push.cancel()
            client.idle_done()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(idle, timeout=10)
        finally:
            stopper.cancel()


def ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines).decode("utf-8", "replace")
        raise ImapError(f"{what}: {response.result} {text}")
    return response


def quote(folder: str) -> str:
    """A folder name as an IMAP quoted string."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
