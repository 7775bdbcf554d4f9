"""`chatdesk socket`: Slack over Socket Mode, with the same runtime as `chatdesk serve`."""

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    import asyncio

    from bot.clock import Clock
    from chatdesk.settings import Settings


async def run_socket_mode(settings: "Settings", stop: "asyncio.Event", *, clock: "Clock | None" = None,
                          manage_db: bool = True) -> None:
    """Serve Slack over Socket Mode, the workers running beside it, until `stop` is set."""
    from datetime import timedelta

    from adapters.slack.app import SlackAdapter
    from adapters.slack.socket import SocketConnection, check
    from chatdesk.runtime import Runtime

    config = settings.slack()
    app_token = check(config)
    runtime = Runtime(clock, keep=timedelta(days=settings.retention_days), mail=settings.mail())
    adapter = SlackAdapter(config, runtime.desk, socket_mode=True)
    runtime.senders["slack"] = adapter.sender
    try:
        async with runtime.running(settings.database_url if manage_db else None):
            await adapter.start()
            connection = SocketConnection(adapter, app_token)
            try:
                await connection.connect()
                await stop.wait()
            finally:
                await connection.close()
    finally:
        await adapter.close()


def register(app: typer.Typer) -> None:
    @app.command("socket")
    def socket() -> None:
        """Slack over Socket Mode (no public URL needed): needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN."""
        import asyncio
        import logging

        from adapters.slack.socket import SocketModeError, check
        from bot.config import ConfigError, load_config
        from chatdesk.cli import fail, settings
        from chatdesk.lifecycle import stop_on_signals

        s = settings()
        try:
            check(s.slack())
        except SocketModeError as exc:
            raise fail(str(exc)) from None
        if s.config_path:
            try:
                load_config(s.config_path)
            except ConfigError as exc:
                raise fail(f"{s.config_path}: {exc}") from None
        logging.basicConfig(level=logging.INFO, format="%(message)s")

        async def main() -> None:
            await run_socket_mode(s, stop_on_signals())

        try:
            asyncio.run(main())
        except OSError as exc:
            raise fail(f"cannot reach Slack: {exc}") from None
