"""nubo serve | worker | migrate | users | simulate | analyze | model | billing | fleet."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from nubo.bleed.cli import analyze_command, model_app, simulate_command
from nubo.cli_help import plural
from nubo.fleet.cli import fleet_app, reprocess_command
from nubo.settings import Settings

app = typer.Typer(
    help="Nubo: bleed-health monitoring and the Nubo data panel.", no_args_is_help=True
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(fleet_app, name="fleet")
app.command("analyze")(analyze_command)
app.command("simulate")(simulate_command)
app.add_typer(model_app, name="model")
model_app.command("reprocess")(reprocess_command)
billing_app = typer.Typer(help="Invoices and billing runs.", no_args_is_help=True)
app.add_typer(billing_app, name="billing")
console = Console()
T = TypeVar("T")


async def _migrate(settings: Settings) -> None:
    from nubo.kit.db import create_engine
    from nubo.kit.migrate import upgrade

    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    asyncio.run(_migrate(Settings()))
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int | None, typer.Option(help="API processes")] = None,
) -> None:
    """Serve the panel at / and the API under /api (the embedded database is migrated first)."""
    import uvicorn

    settings = Settings()
    if settings.embedded:
        asyncio.run(_migrate(settings))
    # Termination handlers: uvicorn shuts down gracefully, then re-raises the signal it caught.
    signal.signal(signal.SIGTERM, _stopped)
    # Ctrl-C or a stop request after a graceful shutdown is a normal end: exit 0.
    with contextlib.suppress(KeyboardInterrupt, _Stopped):
        uvicorn.run(
            "nubo.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers or settings.workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="info",
        )
    console.print("server stopped")


class _Stopped(Exception):
    """SIGTERM, re-raised by uvicorn after its graceful shutdown."""


def _stopped(_signum: int, _frame: object) -> None:
    raise _Stopped


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="jobs run at once (default NUBO_JOBS_CONCURRENCY)")
    ] = None,
) -> None:
    """Run background jobs from the PostgreSQL queue (NUBO_JOBS=procrastinate).

    Start as many as needed, on any number of machines. In the embedded mode
    (NUBO_JOBS=inprocess) the API process runs the jobs itself.
    """
    import logging

    from nubo.worker import worker_main

    settings = Settings()
    if settings.jobs != "procrastinate":
        console.print(
            "[yellow]NUBO_JOBS=inprocess: `nubo serve` runs the jobs itself; "
            "set NUBO_JOBS=procrastinate to run separate workers[/yellow]"
        )
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(worker_main(settings, concurrency=concurrency))


async def _create_operator(name: str, email: str, password: str) -> str:
    from nubo.identity.schemas import SignupIn
    from nubo.identity.service import create_operator
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.platform import Platform

    settings = Settings()
    await _migrate(settings) if settings.embedded else None
    # Validate with the same rules as the API (email form, password length).
    checked = SignupIn(account_name="operators", name=name, email=email, password=password)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await create_operator(
                session, Platform.build(settings), checked.name, checked.email, checked.password
            )
            return str(user.id)
    finally:
        await engine.dispose()


@users_app.command("create-operator")
def create_operator_command(
    email: Annotated[str, typer.Option(help="the operator's email")],
    password: Annotated[
        str | None, typer.Option(help="8–128 characters (asked for when run in a terminal)")
    ] = None,
    name: Annotated[str, typer.Option(help="display name")] = "Operator",
) -> None:
    """Create a platform operator (the bootstrap user)."""
    from pydantic import ValidationError

    from nubo.kit.errors import NuboError

    if password is None:
        if not sys.stdin.isatty():
            console.print("[red]missing --password[/red] (no terminal to ask for it)")
            raise typer.Exit(2)
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user_id = asyncio.run(_create_operator(name, email, password))
    except ValidationError as exc:
        console.print(f"[red]invalid input:[/red] {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from exc
    except NuboError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[green]operator created[/green] {user_id}")


async def _close_month(month: str, prorate: bool, concurrency: int | None) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.marketplace.closing import close_month
    from nubo.marketplace.money import format_minor

    settings = Settings()
    if settings.embedded:
        await _migrate(settings)
    # SQLite has one writer: parallel transactions would only queue behind each other.
    workers = concurrency or (1 if settings.embedded else 4)
    engine = create_engine(settings.resolved_database_url, pool_size=workers)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"invoicing {month}", total=None)
            result = await close_month(
                create_sessionmaker(engine),
                month,
                prorate=prorate,
                concurrency=workers,
                on_start=lambda total: progress.update(task, total=total),
                on_progress=lambda n: progress.advance(task, n),
            )
    finally:
        await engine.dispose()
    totals = ", ".join(f"{format_minor(v, c)} {c}" for c, v in sorted(result.totals_minor.items()))
    console.print(
        f"[green]{month}: {plural(result.created, 'invoice')} created[/green], "
        f"{result.skipped} skipped, {len(result.failed)} failed"
        + (f"; billed {totals}" if totals else "")
    )
    for account_id, reason in list(result.failed.items())[:20]:
        console.print(f"[red]{account_id}: {reason}[/red]")
    return 1 if result.failed else 0


@billing_app.command("close-month")
def close_month_command(
    month: Annotated[str, typer.Argument(help="the month to invoice, YYYY-MM")],
    prorate: Annotated[bool, typer.Option(help="charge active days ÷ days of the month")] = False,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="parallel transactions (4; SQLite: 1)")
    ] = None,
) -> None:
    """Invoice every account for MONTH (subscriptions active in it, unbilled one-offs)."""
    from nubo.marketplace.months import MonthError, parse_month

    try:
        parsed = parse_month(month)
    except MonthError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    raise typer.Exit(asyncio.run(_close_month(parsed, prorate, concurrency)))


async def _in_unit(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` as one unit of work against the configured database."""
    from nubo.kit.db import create_engine, create_sessionmaker

    settings = Settings()
    if settings.embedded:
        await _migrate(settings)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@fleet_app.command("replace")
def fleet_replace_command(
    account: Annotated[uuid.UUID, typer.Option(help="the account's id")],
    registration: Annotated[str, typer.Option(help="the aircraft")],
    engine: Annotated[int, typer.Option(min=1, max=2, help="engine position")],
    component: Annotated[
        str, typer.Option(help="engine, bleed-valve, hp-valve, precooler or bleed-sensor")
    ],
    at: Annotated[str | None, typer.Option(help="when it was replaced (ISO 8601; now)")] = None,
) -> None:
    """Record an engine or bleed component replacement: the engine's reference restarts."""
    from nubo.fleet.service import restart_engine
    from nubo.kit.errors import NuboError

    when = _when(at)
    try:
        reset = asyncio.run(
            _in_unit(lambda s: restart_engine(s, account, registration, engine, component, when))
        )
    except NuboError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"engine {engine} of {registration} relearns its reference from "
                  f"{reset.effective_at:%Y-%m-%d %H:%M} UTC")


@fleet_app.command("refit")
def fleet_refit_command(
    account: Annotated[uuid.UUID, typer.Option(help="the account's id")],
    since: Annotated[str, typer.Option(help="relearn from the flights flown since (ISO 8601)")],
    aircraft_type: Annotated[str | None, typer.Option("--type", help="only this type")] = None,
) -> None:
    """Relearn every engine's reference of an account's fleet from its own flights."""
    from nubo.fleet.service import refit_fleet

    when = _when(since)
    assert when is not None
    fleet = asyncio.run(_in_unit(lambda s: refit_fleet(s, account, aircraft_type, when)))
    console.print(f"{len(fleet)} aircraft relearn their engines' references from {since}")


if __name__ == "__main__":
    app()
