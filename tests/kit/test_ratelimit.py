"""Attempt counters live in the database: every API process sees the same windows."""

from __future__ import annotations

from sqlalchemy import select

from nubo.kit.ratelimit import AttemptLimiter
from nubo.models import RateLimitWindow
from nubo.platform import RATE_WINDOWS


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, limit: int = 3, window_s: int = 60) -> AttemptLimiter:
    return AttemptLimiter(RATE_WINDOWS, "test", limit, window_s, clock=clock)


async def test_the_attempt_after_the_limit_must_wait_for_the_window_to_end(connection):
    clock = Clock()
    counter = limiter(clock)
    assert [await counter.hit(connection, "a@example.com") for _ in range(3)] == [None] * 3
    clock.now += 20
    assert await counter.hit(connection, "a@example.com") == 41
    assert await counter.retry_after(connection, "a@example.com") == 41


async def test_retry_after_does_not_count(connection):
    counter = limiter(Clock())
    for _ in range(5):
        assert await counter.retry_after(connection, "a@example.com") is None
    assert [await counter.hit(connection, "a@example.com") for _ in range(3)] == [None] * 3


async def test_a_new_window_starts_once_the_old_one_is_over(connection):
    clock = Clock()
    counter = limiter(clock)
    for _ in range(4):
        await counter.hit(connection, "a@example.com")
    clock.now += 60
    assert await counter.retry_after(connection, "a@example.com") is None
    assert [await counter.hit(connection, "a@example.com") for _ in range(3)] == [None] * 3
    assert await counter.hit(connection, "a@example.com") is not None


async def test_two_processes_share_one_count(connection):
    clock = Clock()
    first, second = limiter(clock), limiter(clock)  # as in two API processes
    for _ in range(3):
        await first.hit(connection, "a@example.com")
    assert await second.retry_after(connection, "a@example.com") is not None
    assert await second.hit(connection, "a@example.com") is not None


async def test_subjects_and_scopes_are_counted_apart(connection):
    clock = Clock()
    counter, other_scope = limiter(clock), AttemptLimiter(RATE_WINDOWS, "other", 3, 60, clock=clock)
    for _ in range(3):
        await counter.hit(connection, "a@example.com")
    assert await counter.hit(connection, "b@example.com") is None
    assert await other_scope.hit(connection, "a@example.com") is None


async def test_reset_forgets_the_subject(connection):
    counter = limiter(Clock())
    for _ in range(3):
        await counter.hit(connection, "a@example.com")
    await counter.reset(connection, "a@example.com")
    assert await counter.hit(connection, "a@example.com") is None


async def test_the_table_holds_a_hash_of_the_subject_not_the_subject(connection):
    await limiter(Clock()).hit(connection, "a@example.com")
    keys = (await connection.execute(select(RateLimitWindow.key))).scalars().all()
    assert len(keys) == 1 and keys[0].startswith("test:")
    assert "example" not in keys[0]


async def test_expired_windows_of_the_scope_are_pruned(connection):
    clock = Clock()
    counter = limiter(clock)
    other_scope = AttemptLimiter(RATE_WINDOWS, "other", 3, 600, clock=clock)
    for n in range(50):
        await counter.hit(connection, f"user{n}@example.com")
    await other_scope.hit(connection, "a@example.com")
    clock.now += 61
    await counter.hit(connection, "late@example.com")
    keys = (await connection.execute(select(RateLimitWindow.key))).scalars().all()
    assert sorted(key.split(":")[0] for key in keys) == ["other", "test"]
