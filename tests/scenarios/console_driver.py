"""Plays acceptance stories through the console adapter, recording what each person saw."""

from __future__ import annotations

from adapters.console.app import ConsoleSession, Identity
from bot.clock import FakeClock
from bot.core import Helpdesk


class Person:
    def __init__(self, desk: Helpdesk, who: str, seen: list[str]) -> None:
        self.session = ConsoleSession(desk, Identity.parse(who), write=seen.append)

    async def say(self, line: str) -> None:
        await self.session.handle_line(line)


class ConsoleWorld:
    """One helpdesk, several people at consoles, and everything printed anywhere in order."""

    def __init__(self, clock: FakeClock, suggest: object = None) -> None:
        self.clock = clock
        self.desk = Helpdesk(clock=clock, suggest=suggest)  # type: ignore[arg-type]
        self.seen: list[str] = []

    async def person(self, who: str) -> Person:
        p = Person(self.desk, who, self.seen)
        await p.session.start()
        return p

    def take(self) -> list[str]:
        out, self.seen[:] = list(self.seen), []
        return out
