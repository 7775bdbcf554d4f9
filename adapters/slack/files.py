"""Fetching the bytes of files customers attach, after the event has been acknowledged.

The core stores each kept file's metadata (bot/attachments.py decides what is
kept); this fills `Attachment.content` in the background, at most
bot.attachments.MAX_FILE_BYTES per file. A slow or failing download never delays
an acknowledgement and never reaches the server: it is logged and the attachment
keeps its metadata. The bot token is only ever sent to Slack's own file hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

import aiohttp

from bot import attachments
from bot.types import FileRef
from storage.models import Attachment

log = logging.getLogger("chatdesk.slack.files")

CHUNK = 64 * 1024


class FileFetcher:
    def __init__(self, token: str, api_url: str, concurrency: int = 4, timeout: float = 60.0) -> None:
        self.token = token
        api = urlsplit(api_url)
        self.api_origin = (api.scheme, api.netloc)
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
        self.semaphore = asyncio.Semaphore(concurrency)
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def allowed(self, url: str) -> bool:
        """Slack's file hosts over https, or the configured API host (a local fake in tests)."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) == self.api_origin:
            return True
        host = (parts.hostname or "").lower()
        return parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")
                                            or host.endswith(".slack-edge.com"))

    def wanted(self, f: FileRef) -> bool:
        return bool(f.url and f.platform_file_id and attachments.keep_file(f) and self.allowed(f.url)
                    and (f.size is None or f.size <= attachments.MAX_FILE_BYTES))

    def fetch_later(self, files: Iterable[FileRef]) -> int:
        """Schedule downloads for the files worth keeping; returns how many were scheduled."""
        scheduled = 0
        for f in files:
            if not self.wanted(f):
                continue
            task = asyncio.create_task(self._fetch(f))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            scheduled += 1
        return scheduled

    async def idle(self) -> None:
        """Wait for the downloads scheduled so far (tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _fetch(self, f: FileRef) -> None:
        assert f.url and f.platform_file_id
        try:
            async with self.semaphore:
                data = await self.download(f.url, html_ok=(f.mimetype or "").startswith("text/html"))
            if data is None:
                return
            await Attachment.filter(platform_file_id=f.platform_file_id, url=f.url, content__isnull=True).update(
                content=data
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not fetch Slack file %s: %s: %s", f.platform_file_id, type(exc).__name__, exc)

    async def download(self, url: str, html_ok: bool = False) -> bytes | None:
        """The file's bytes, or None when it is larger than the limit or Slack answers with a page."""
        if not self.allowed(url):
            log.warning("not fetching a file from %s: not a Slack file host", urlsplit(url).netloc)
            return None
        limit = attachments.MAX_FILE_BYTES
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.get(url, headers=headers) as response:
            if response.status != 200:
                log.warning("Slack file %s: HTTP %s", urlsplit(url).path, response.status)
                return None
            if not html_ok and response.content_type == "text/html":
                # Slack answers a request it will not serve (missing files:read) with its login page.
                log.warning("Slack file %s: got a web page instead of the file (files:read scope?)",
                            urlsplit(url).path)
                return None
            if response.content_length is not None and response.content_length > limit:
                return None
            data = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                data.extend(chunk)
                if len(data) > limit:
                    log.info("Slack file %s is over %s bytes; keeping its metadata only", urlsplit(url).path, limit)
                    return None
            return bytes(data)
