"""`nubo fleet query` and `nubo fleet columns`: SQL over every stored flight's features."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nubo.settings import Settings

fleet_app = typer.Typer(
    help="Fleet-wide views over the stored flight features (see docs/fleet.md).",
    no_args_is_help=True,
)
console = Console()


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _run(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb

    from nubo.fleet.service import query_lake
    from nubo.kit.db import create_engine, create_sessionmaker
    from nubo.runtime import build_store

    settings = Settings()
    if (settings.embedded or settings.storage_url is None) and not settings.data_dir.is_dir():
        # A read must not create an empty data directory and answer "0 rows" from it.
        console.print(
            f"[red]no data directory at {settings.data_dir}[/red]; "
            "set NUBO_DATA_DIR to the one the server uses (see README, Configuration)"
        )
        raise typer.Exit(2)

    async def run() -> tuple[list[str], list[tuple[Any, ...]]]:
        engine = create_engine(settings.resolved_database_url, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                return await query_lake(session, build_store(settings), sql)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except duckdb.Error as exc:
        console.print(f"[red]query failed:[/red] {exc}")
        raise typer.Exit(2) from exc


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format) -> str:
    """The rows as CSV, JSON (one object per row) or a table wide enough for every column."""
    if fmt is Format.json:
        items = [dict(zip(columns, map(_plain, row), strict=True)) for row in rows]
        return json.dumps(items, indent=1, allow_nan=False, default=str)
    if fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else _plain(v) for v in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(_plain(v)) for v in row))
    # As wide as the content: a narrow terminal wraps lines instead of cutting every column.
    width = sum(max([len(c), *(len(str(_plain(r[i]))) for r in rows)]) + 3
                for i, c in enumerate(columns)) + 1
    wide = Console(width=max(width, 40), file=io.StringIO(), color_system=None)
    wide.print(table)
    return wide.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


@fleet_app.command("query")
def fleet_query_command(
    sql: Annotated[str, typer.Argument(help="SQL over the `features` view (DuckDB dialect)")],
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.table,
) -> None:
    """Run SQL over every flight's features (columns: `nubo fleet columns`)."""
    columns, rows = _run(sql)
    typer.echo(render(columns, rows, fmt))
    if fmt is Format.table:
        typer.echo(f"{len(rows)} row{'' if len(rows) == 1 else 's'}")


@fleet_app.command("columns")
def fleet_columns_command() -> None:
    """List the columns of the `features` view and their types."""
    _, rows = _run("SELECT column_name, column_type FROM (DESCRIBE features)")
    typer.echo(render(["column", "type"], [(r[0], r[1]) for r in rows], Format.table))


def reprocess_command(
    account: Annotated[str | None, typer.Option(help="one account's id (default: all)")] = None,
    aircraft: Annotated[
        str | None, typer.Option(help="one aircraft's registration (with --account)")
    ] = None,
) -> None:
    """Re-run every processed flight with the current model, in flight order per aircraft.

    With NUBO_JOBS=procrastinate the aircraft are spread over the running `nubo worker`s and
    this command follows their progress; embedded, it runs them itself. An interrupted
    reprocessing of the same scope is resumed where it stopped.
    """
    import uuid

    try:
        account_id = uuid.UUID(account) if account else None
    except ValueError as exc:
        console.print(f"[red]--account is not an id: {account}[/red]")
        raise typer.Exit(2) from exc
    raise typer.Exit(asyncio.run(_reprocess(account_id, aircraft)))


async def _reprocess(account_id: Any, registration: str | None) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    import nubo.tasks  # noqa: F401  (registers the jobs)
    from nubo.fleet import reprocess
    from nubo.kit import jobs
    from nubo.kit.db import commit_unit, create_engine, create_sessionmaker
    from nubo.kit.migrate import upgrade
    from nubo.runtime import build_queue, build_store

    settings = Settings()
    engine = create_engine(settings.resolved_database_url)
    if settings.embedded:
        await upgrade(engine)
    maker = create_sessionmaker(engine)
    queue = build_queue(settings)
    inprocess = isinstance(queue, jobs.InProcessQueue)
    try:
        async with maker() as session:
            # Handed to the workers once committed; embedded, this process runs them below.
            started = await reprocess.start(
                session, account_id, registration, queue=None if inprocess else queue
            )
            run_id, total = started.reprocessing.id, started.reprocessing.flights_total
            await commit_unit(session)
        runner = None
        if inprocess:
            ctx = jobs.JobContext(settings=settings, sessionmaker=maker,
                                  store=build_store(settings), queue=queue)
            runner = asyncio.create_task(_run_rows(ctx, started.owed, settings.jobs_concurrency))
        word = "resuming" if started.resumed else "reprocessing"
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{word} {started.reprocessing.aircraft_total} aircraft",
                                total=total)
            while True:
                async with maker() as session:
                    progress = await reprocess.progress(session, run_id)
                bar.update(task, completed=progress.flights_done)
                if progress.reprocessing.finished_at is not None:
                    break
                if runner is not None and runner.done():
                    runner.result()  # raises what stopped it
                    break
                await asyncio.sleep(0.5)
        console.print(f"[green]{progress.flights_done} flight(s) of "
                      f"{progress.aircraft_done} aircraft reprocessed[/green] "
                      f"with {progress.reprocessing.model_version}")
        return 0
    finally:
        await queue.stop()
        await engine.dispose()


async def _run_rows(ctx: Any, row_ids: list[Any], concurrency: int) -> None:
    """Embedded: this process runs the aircraft itself, `concurrency` at a time."""
    from nubo.fleet import reprocess
    from nubo.kit import jobs

    gate = asyncio.Semaphore(max(concurrency, 1))

    async def one(row_id: Any) -> None:
        async with gate:
            await jobs.run_job(ctx, reprocess.REPROCESS, {"row_id": str(row_id)})

    await asyncio.gather(*(one(r) for r in row_ids))
