"""Who may read the leads' board: a board token, presented once, then a session cookie.

- `Authorization: Bearer <token>` is the preferred way for scripts.
- A browser opens `/board?token=...` once: the answer sets an HttpOnly session cookie and
  redirects to `/board`, so the token leaves the address bar, the history and the access log.
- The cookie holds an HMAC of a token, never the token, so any worker can check it and
  removing a token from the config ends its sessions.
- Failed attempts are limited per client address (`FAILURES_PER_MINUTE`, then 429 with
  Retry-After), so tokens cannot be guessed at speed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import deque
from datetime import datetime, timedelta

from aiohttp import web

from bot.clock import Clock

COOKIE = "chatdesk_board"
FAILURES_PER_MINUTE = 10
WINDOW = timedelta(minutes=1)
MAX_TRACKED_CLIENTS = 10_000  # a flood of addresses cannot grow the table without bound


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"chatdesk board session v1", hashlib.sha256).hexdigest()


class BoardAuth:
    def __init__(self, tokens: tuple[str, ...], clock: Clock) -> None:
        self.tokens = tokens
        self.clock = clock
        self._failures: dict[str, deque[datetime]] = {}

    def _match(self, given: str) -> str | None:
        if not given:
            return None
        return next((t for t in self.tokens if hmac.compare_digest(given.encode(), t.encode())), None)

    def _by_cookie(self, value: str) -> str | None:
        if not value:
            return None
        return next((t for t in self.tokens if hmac.compare_digest(value.encode(), session_value(t).encode())), None)

    def token_of(self, request: web.Request) -> tuple[str | None, str]:
        """The valid token behind the request and how it came (bearer | cookie | query | none)."""
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return self._match(auth[7:].strip()), "bearer"
        if "token" in request.query:
            return self._match(request.query.get("token", "")), "query"
        if COOKIE in request.cookies:
            return self._by_cookie(request.cookies.get(COOKIE, "")), "cookie"
        return None, "none"

    def retry_after(self, client: str) -> int | None:
        """Seconds until this client may try again, or None when it is not being held back."""
        now = self.clock.now()
        seen = self._failures.get(client)
        if not seen:
            return None
        while seen and now - seen[0] >= WINDOW:
            seen.popleft()
        if not seen:
            del self._failures[client]
            return None
        if len(seen) < FAILURES_PER_MINUTE:
            return None
        return max(1, math.ceil((seen[0] + WINDOW - now).total_seconds()))

    def failed(self, client: str) -> None:
        if client not in self._failures and len(self._failures) >= MAX_TRACKED_CLIENTS:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(self.clock.now())

    async def check(self, request: web.Request, headers: dict[str, str]) -> web.Response | None:
        """None when the request may read the board; otherwise the answer to give (401, 429, 303)."""
        client = request.remote or "unknown"
        token, how = self.token_of(request)
        if how == "none":
            return unauthorised(headers)
        wait = self.retry_after(client)
        if wait is not None:  # even a right token: the answer must not tell a guess apart
            return web.Response(status=429, text="429: too many failed attempts; try again later\n",
                                headers={"Retry-After": str(wait), **headers})
        if token is None:
            self.failed(client)
            return unauthorised(headers)
        if how == "query" and request.method == "GET" and request.path == "/board":
            # Swap the token in the URL for a session cookie, then show the page at a clean address.
            query = {k: v for k, v in request.query.items() if k != "token"}
            target = request.rel_url.with_query(query) if query else request.rel_url.with_query(None)
            response = web.HTTPSeeOther(location=str(target), headers=headers)
            response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict",
                                secure=request.secure, path="/", max_age=12 * 3600)
            return response
        return None


def unauthorised(headers: dict[str, str]) -> web.Response:
    return web.Response(status=401, text="401: the board needs a valid token (Authorization: Bearer ..., "
                                         "or open /board?token=... once)\n",
                        headers={"WWW-Authenticate": 'Bearer realm="chatdesk board"', **headers})
