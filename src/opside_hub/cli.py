"""`opside-hub`: serve, worker, migrate, token, vault, sync, status, sandbox."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from opside_hub.config import (
    ConfigurationError,
    Settings,
    get_settings,
    validate_for_production,
)
from opside_hub.console.commands import register as register_console_commands
from opside_hub.core.logging import configure_logging
from opside_hub.vault.keys import parse_keyring

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Opside Integrations Hub")


def _settings_or_exit() -> Settings:
    settings = get_settings()
    try:
        validate_for_production(settings)
    except ConfigurationError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
    configure_logging(json=settings.is_production, level=settings.log_level)
    return settings


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default HOST or 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 3000)")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving")] = False,
) -> None:
    """Run the API (and, with the embedded default, the worker in the same process)."""
    import uvicorn

    from opside_hub.app import create_app
    from opside_hub.db.migrate import upgrade
    from opside_hub.realtime.protocol import WebSocketProtocol

    settings = _settings_or_exit()
    if migrate:
        upgrade(settings.db.effective_url)
    config = uvicorn.Config(
        create_app(settings, configure_logs=False, freeze_heap=True),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        # X-Forwarded-For is read by our own middleware, only from TRUSTED_PROXIES.
        proxy_headers=False,
        server_header=False,
        access_log=False,  # RequestContextMiddleware logs each request with its id
        # Oversized WebSocket messages are refused (1009) before they are buffered whole.
        ws_max_size=settings.realtime.max_message_bytes,
        ws=WebSocketProtocol,  # answers handshakes over the line limits (414/431)
    )
    uvicorn.Server(config).run()


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once")] = 10,
) -> None:
    """Run a worker process: jobs and schedules, until SIGINT/SIGTERM (graceful)."""
    from opside_hub.worker import run_worker

    asyncio.run(run_worker(_settings_or_exit(), concurrency=concurrency))


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION instead")] = False,
) -> None:
    """Apply (or revert) database migrations."""
    from opside_hub.db.migrate import downgrade, upgrade

    url = _settings_or_exit().db.effective_url
    (downgrade if down else upgrade)(url, revision)
    typer.echo(f"database at {'base' if down and revision == 'base' else revision}")


@app.command()
def token(
    user: Annotated[str, typer.Option("--user", help="User id (the JWT `sub`)")],
    email: Annotated[str | None, typer.Option(help="Email claim")] = None,
) -> None:
    """Print a development user JWT signed with JWT_SECRET (refused in production)."""
    from opside_hub.auth.service import create_user_token

    settings = get_settings()
    if settings.is_production:
        typer.secho(
            "refused: development tokens are not issued in production",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(2)
    typer.echo(create_user_token(user, settings.auth, email=email))


vault_app = typer.Typer(no_args_is_help=True, help="The token vault")
app.add_typer(vault_app, name="vault")


@vault_app.command("rotate")
def vault_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Rows per transaction")] = 200,
) -> None:
    """Re-seal every stored token under the newest ENCRYPTION_KEY key (online, idempotent)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from opside_hub.console.repository import sealed_row_count
    from opside_hub.runtime import Runtime
    from opside_hub.vault.service import RotationResult, rotate_keys

    settings = _settings_or_exit()

    async def run() -> RotationResult:
        runtime = await Runtime.start(settings)
        try:
            async with runtime.sessions() as session:
                total = await sealed_row_count(session)  # rows added meanwhile stretch the bar
            columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(TextColumn("{task.description}"), *columns) as progress:
                task = progress.add_task("re-sealing", total=total)

                def report(result: RotationResult) -> None:
                    progress.update(
                        task,
                        completed=result.rows_seen,
                        total=max(total, result.rows_seen),
                        description=f"re-sealed {result.values_resealed}",
                    )

                return await rotate_keys(runtime, batch_size=batch_size, on_batch=report)
        finally:
            await runtime.stop()

    result = asyncio.run(run())
    typer.echo(
        f"rows {result.rows_seen}, re-sealed {result.values_resealed}, "
        f"skipped (changed meanwhile) {result.values_skipped}; "
        f"current key: {parse_keyring(settings.vault.encryption_key.get_secret_value()).current.id}"
    )


# sync, status, sandbox seed: clients of a running hub and of its database (console/).
register_console_commands(app, _settings_or_exit)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
