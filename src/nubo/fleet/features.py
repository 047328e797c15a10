"""Per-flight feature tables as Parquet in the object store, and SQL over the whole fleet.

Layout: `features/account=<id>/aircraft=<registration>/date=<YYYY-MM-DD>/flight=<id>.parquet`,
hive-style, so DuckDB, Spark or Athena can read the prefix as one partitioned table.
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from nubo.kit.storage import ObjectStore

PREFIX = "features"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def feature_key(account_id: Any, registration: str, flown_at: datetime, flight_id: Any) -> str:
    reg = _UNSAFE.sub("_", registration)
    return (f"{PREFIX}/account={account_id}/aircraft={reg}/date={flown_at:%Y-%m-%d}/"
            f"flight={flight_id}.parquet")


async def local_copy(store: ObjectStore, into: Path) -> Path:
    """The features prefix as local files: the folder itself for a local store, else a copy."""
    if store.kind == "local" and store.root is not None:
        return store.root / PREFIX
    async for key in store.list_keys(PREFIX):
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        await store.download_to(key, path)
    return into / PREFIX


def query(root: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` with a `features` view over every Parquet file under `root`."""
    con = duckdb.connect()
    files = sorted(root.glob("**/*.parquet")) if root.exists() else []
    if files:
        pattern = str(root / "**" / "*.parquet").replace("'", "''")
        # The flight id is in the file name (flight=<id>.parquet), not a folder: lift it out.
        con.execute(
            "CREATE VIEW features AS SELECT * EXCLUDE (filename), "
            "regexp_extract(filename, 'flight=([^/]+)[.]parquet$', 1) AS flight "
            f"FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true, "
            "filename = true)"
        )
    else:
        con.execute("CREATE VIEW features AS SELECT NULL::VARCHAR AS flight WHERE false")
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    return columns, cursor.fetchall()


async def fleet_query(store: ObjectStore, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with tempfile.TemporaryDirectory(prefix="nubo-fleet-") as tmp:
        root = await local_copy(store, Path(tmp))
        return query(root, sql)
