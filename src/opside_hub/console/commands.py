"""The `sync`, `status` and `sandbox seed` commands, registered on the `opside-hub` app."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import jwt
import typer
from rich.console import Console

from opside_hub.config import Settings

URL_HELP = (
    "The running hub (default: OPSIDE_HUB_URL, else http://127.0.0.1:PORT, the server `make run` "
    "starts)"
)
JWT_OPTION_HELP = (
    "A user JWT (default: OPSIDE_HUB_TOKEN; without one, a development token is minted with "
    "JWT_SECRET, as `opside-hub token` does — refused in production)"
)


class Provider(StrEnum):
    amazon = "amazon"
    gmail = "gmail"
    stripe = "stripe"


def register(app: typer.Typer, settings_or_exit: Callable[[], Settings]) -> None:
    """Add `sync`, `status` and `sandbox seed` to `app`."""

    @app.command()
    def sync(
        user: Annotated[
            str | None, typer.Option("--user", help="User id (required without --token)")
        ] = None,
        provider: Annotated[
            list[Provider] | None,
            typer.Option("--provider", help="Only these providers (repeatable; default: all)"),
        ] = None,
        url: Annotated[str | None, typer.Option(help=URL_HELP)] = None,
        token: Annotated[str | None, typer.Option(help=JWT_OPTION_HELP)] = None,
        follow: Annotated[
            bool, typer.Option(help="Follow the sync to its end with progress bars")
        ] = True,
    ) -> None:
        """Start a sync of a user (or follow the one running) and show its progress live."""
        from opside_hub.console.client import HubClient, HubError, follow_sync
        from opside_hub.console.progress import SyncBars, make_progress

        settings = settings_or_exit()
        base_url = hub_url(settings, url)
        user_token = user_token_or_exit(settings, user, token)
        console = Console()

        async def run() -> dict[str, Any] | None:
            async with HubClient(base_url, user_token) as client:
                started = await client.start_sync([p.value for p in provider or []] or None)
                verb = "started" if started.started else "already running, following"
                console.print(f"sync {started.sync_id} {verb} ({base_url})")
                if not follow:
                    return None
                with make_progress(console) as progress:
                    bars = SyncBars(progress, title="Sync")
                    final = await follow_sync(client, started.sync_id, bars.update)
                console.print(bars.summary())
                return final

        try:
            final = asyncio.run(run())
        except HubError as exc:
            if exc.code == "nothing_to_sync":
                fail(f"{exc.message} Connect one first, e.g. in the dashboard: {base_url}/")
            fail(exc.message if exc.status != 401 else token_rejected(exc))
        except KeyboardInterrupt:
            console.print("stopped following; the sync goes on (run the command again to follow)")
            raise typer.Exit(130) from None
        if final is not None and final["status"] != "completed":
            raise typer.Exit(1)

    @app.command()
    def status(
        user: Annotated[
            str | None, typer.Option("--user", help="One user (default: an overview of all)")
        ] = None,
        limit: Annotated[
            int, typer.Option(min=1, max=1000, help="Syncs of the user, or users, to show")
        ] = 20,
    ) -> None:
        """Connections and recent syncs of a user, or of all users (reads the database)."""
        from opside_hub.console.status import NoDatabase, show_status

        settings = settings_or_exit()
        try:
            code = asyncio.run(show_status(settings, Console(), user, limit))
        except NoDatabase as exc:
            fail(f"no database at {exc}: start the hub once (`make run`) or `opside-hub migrate`")
        raise typer.Exit(code)

    sandbox_app = typer.Typer(no_args_is_help=True, help="The sandbox providers")
    app.add_typer(sandbox_app, name="sandbox")

    @sandbox_app.command("seed")
    def seed(
        sellers: Annotated[int, typer.Option(min=1, max=100_000, help="Sellers to create")] = 10,
        rows: Annotated[
            int | None,
            typer.Option(
                min=0,
                help="Reimbursement events per seller the server's sandbox must serve "
                "(SANDBOX_AMAZON_REIMBURSEMENTS); checked, not changed",
            ),
        ] = None,
        prefix: Annotated[str, typer.Option(help="User ids are PREFIX-0001, ...")] = "seed",
        concurrency: Annotated[
            int, typer.Option(min=1, max=64, help="Sellers connected and synced at once")
        ] = 4,
        url: Annotated[str | None, typer.Option(help=URL_HELP)] = None,
    ) -> None:
        """Create sellers with connected sandbox Amazon accounts, synced by the real pipeline.

        Talks to a running hub in sandbox development mode (`make run`): each seller connects
        through the sandbox consent flow and runs a full sync, so the database ends up with their
        reports, cases and sync history. See `opside_hub/console/seed.py` for the details."""
        from opside_hub.console.client import HubError
        from opside_hub.console.seed import SeedRefused, seed_sellers

        settings = settings_or_exit()
        refuse_in_production(settings, "the sandbox is not available in production")
        console = Console()
        try:
            outcomes = asyncio.run(
                seed_sellers(
                    settings=settings,
                    base_url=hub_url(settings, url),
                    sellers=sellers,
                    rows=rows,
                    prefix=prefix,
                    concurrency=concurrency,
                    console=console,
                )
            )
        except SeedRefused as exc:
            fail(str(exc), code=2)
        except HubError as exc:
            fail(exc.message if exc.status != 401 else token_rejected(exc))
        completed = [o for o in outcomes if o.status == "completed"]
        console.print(
            f"{len(outcomes)} sellers ({sum(o.connected_now for o in outcomes)} newly connected): "
            f"{len(completed)} synced, {len(outcomes) - len(completed)} not; "
            f"{sum(o.cases for o in outcomes)} cases, "
            f"{sum(o.rows_read for o in outcomes)} rows read"
        )
        if len(completed) != len(outcomes):
            raise typer.Exit(1)


def hub_url(settings: Settings, url: str | None) -> str:
    return (url or os.environ.get("OPSIDE_HUB_URL") or f"http://127.0.0.1:{settings.port}").rstrip(
        "/"
    )


def refuse_in_production(settings: Settings, why: str) -> None:
    if settings.is_production:
        fail(f"refused: {why}", code=2)


def user_token_or_exit(settings: Settings, user: str | None, token: str | None) -> str:
    """The given token (checked against --user), or a development token for --user."""
    from opside_hub.auth.service import create_user_token

    token = token or os.environ.get("OPSIDE_HUB_TOKEN") or None
    if token:
        try:
            subject = jwt.decode(token, options={"verify_signature": False}).get("sub")
        except jwt.InvalidTokenError:
            fail("the token is not a JWT", code=2)
        if user is not None and subject != user:
            fail(f"the token is for user {subject!r}, not {user!r}", code=2)
        return token
    if user is None:
        fail("give --user (or a user token with --token)", code=2)
    refuse_in_production(
        settings, "development tokens are not minted in production: pass --token with a user JWT"
    )
    return create_user_token(user, settings.auth)


def token_rejected(exc: Any) -> str:
    return (
        f"the hub rejected the token ({exc.code}): run this from the server's directory (it "
        "shares data/.dev-secrets.json) or with the server's JWT_SECRET, or pass --token"
    )


def fail(message: str, *, code: int = 1) -> NoReturn:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(code)
