"""The app-wide runtime: which job queue the settings choose, and its connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from nubo import runtime
from nubo.kit import jobs
from tests.conftest import make_settings


def test_the_queue_database_is_the_jobs_url_or_the_postgresql_database(tmp_path: Path):
    s = make_settings("postgresql+asyncpg://u:p%40ss@db.example:5433/nubo", tmp_path)
    info = runtime.procrastinate_conninfo(s)
    assert make_url(info).drivername == "postgresql"
    assert make_url(info).password == "p@ss" and make_url(info).port == 5433
    s = make_settings("sqlite+aiosqlite:///x.db", tmp_path, jobs_database_url="postgresql://q/j")
    assert runtime.procrastinate_conninfo(s) == "postgresql://q/j"
    with pytest.raises(ValueError):
        runtime.procrastinate_conninfo(make_settings("sqlite+aiosqlite:///x.db", tmp_path))
    queue = runtime.build_queue(make_settings("sqlite+aiosqlite:///x.db", tmp_path))
    assert isinstance(queue, jobs.InProcessQueue)
