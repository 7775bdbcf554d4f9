"""`chatdesk socket`: Slack over Socket Mode (DESIGN.md section 2)."""

from __future__ import annotations

import contextlib
import logging
import signal

import typer


def register(app: typer.Typer) -> None:
    @app.command("socket")
    def socket() -> None:
        """Slack over Socket Mode (no public URL needed): needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN."""
        import asyncio

        from adapters.slack.socket import SocketModeError, check, run_socket_mode
        from bot.config import ConfigError, load_config
        from chatdesk.cli import fail, settings

        s = settings()
        try:
            check(s)
        except SocketModeError as exc:
            raise fail(str(exc)) from None
        if s.config_path:
            try:
                load_config(s.config_path)
            except ConfigError as exc:
                raise fail(f"{s.config_path}: {exc}") from None
        logging.basicConfig(level=logging.INFO, format="%(message)s")

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            await run_socket_mode(s, stop)

        try:
            asyncio.run(main())
        except OSError as exc:
            raise fail(f"cannot reach Slack: {exc}") from None
