"""Per-flight feature tables as Parquet in the object store, and SQL over the whole fleet.

Layout: `features/account=<id>/aircraft=<registration>/date=<YYYY-MM-DD>/flight=<id>.parquet`,
hive-style, so DuckDB, Spark or Athena can read the prefix as one partitioned table.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from nubo.kit.storage import ObjectStore

PREFIX = "features"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
_FLIGHT = re.compile(r"/flight=([^/]+)[.]parquet$")


def feature_key(account_id: Any, registration: str, flown_at: datetime, flight_id: Any) -> str:
    return (f"{flight_prefix(account_id, registration)}/date={flown_at:%Y-%m-%d}/"
            f"flight={flight_id}.parquet")


def flight_prefix(account_id: Any, registration: str) -> str:
    return f"{PREFIX}/account={account_id}/aircraft={_UNSAFE.sub('_', registration)}"


async def remove_flight(store: ObjectStore, account_id: Any, registration: str,
                        flight_id: Any) -> int:
    """Delete every feature file of one flight (a rerun may have dated it differently)."""
    suffix = f"/flight={flight_id}.parquet"
    keys = [k async for k in store.list_keys(flight_prefix(account_id, registration))
            if k.endswith(suffix)]
    for key in keys:
        await store.delete(key)
    return len(keys)


def flight_of(key: str) -> str | None:
    """The flight id in a feature file's key, if it is one."""
    match = _FLIGHT.search(key)
    return match.group(1) if match else None


async def local_copy(store: ObjectStore, into: Path) -> Path:
    """The features prefix as local files: the folder itself for a local store, else a copy."""
    if store.kind == "local" and store.root is not None:
        return store.root / PREFIX
    async for key in store.list_keys(PREFIX):
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        await store.download_to(key, path)
    return into / PREFIX


def query(
    root: Path, sql: str, hidden: Collection[str] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` with a `features` view over every Parquet file under `root`, without the
    `hidden` flights (deleted ones whose files may still be there)."""
    con = duckdb.connect()
    files = sorted(root.glob("**/*.parquet")) if root.exists() else []
    if files:
        con.execute("CREATE TABLE _hidden_flights AS SELECT unnest(?::VARCHAR[]) AS flight",
                    [sorted(hidden)])
        pattern = str(root / "**" / "*.parquet").replace("'", "''")
        # The flight id is in the file name (flight=<id>.parquet), not a folder: lift it out.
        # The aircraft folder is named `aircraft=` in the layout, but the column is
        # `registration`, as everywhere else in Nubo.
        con.execute(
            "CREATE VIEW features AS SELECT * FROM (SELECT * EXCLUDE (filename, aircraft), "
            "aircraft AS registration, "
            "regexp_extract(filename, 'flight=([^/]+)[.]parquet$', 1) AS flight "
            f"FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true, "
            "filename = true)) AS f "
            "WHERE f.flight NOT IN (SELECT flight FROM _hidden_flights)"
        )
    else:
        con.execute(
            "CREATE VIEW features AS SELECT NULL::VARCHAR AS account, "
            "NULL::VARCHAR AS registration, NULL::DATE AS date, NULL::VARCHAR AS flight WHERE false"
        )
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    return columns, cursor.fetchall()


async def fleet_query(
    store: ObjectStore, sql: str, hidden: Collection[str] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    with tempfile.TemporaryDirectory(prefix="nubo-fleet-") as tmp:
        root = await local_copy(store, Path(tmp))
        return query(root, sql, hidden)
