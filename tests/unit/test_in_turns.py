"""pls_core/in_turns.py: a request's chunks go to the simplifier a few at a time, in order."""

from __future__ import annotations

import asyncio

import pytest

from pls_core.in_turns import in_turns


def test_at_most_limit_at_once_started_in_order_and_answered_in_order() -> None:
    running, most, started = 0, 0, []

    async def call(item: int) -> int:
        nonlocal running, most
        started.append(item)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01 * (5 - item % 5))  # later items may finish first
        running -= 1
        return item * 10

    results = asyncio.run(in_turns(call, list(range(12)), limit=3))
    assert results == [item * 10 for item in range(12)]
    assert most == 3
    assert started == list(range(12))


def test_the_first_failure_is_raised_as_itself_and_cancels_the_rest() -> None:
    cancelled, started = [], []

    async def call(item: int) -> int:
        started.append(item)
        if item == 1:
            await asyncio.sleep(0.01)
            raise LookupError("chunk 1")
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    with pytest.raises(LookupError, match="chunk 1"):
        asyncio.run(asyncio.wait_for(in_turns(call, [0, 1, 2, 3], limit=2), 2))
    # Every call that started, other than the failing one, was cancelled; item 3 never started.
    assert 3 not in started and sorted(cancelled) == sorted(set(started) - {1})


def test_cancelling_the_request_cancels_its_calls() -> None:
    cancelled = []

    async def call(item: int) -> int:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    async def scenario() -> None:
        task = asyncio.create_task(in_turns(call, [0, 1, 2], limit=2))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert sorted(cancelled) == [0, 1]


def test_nothing_to_do() -> None:
    async def call(item: int) -> int:
        raise AssertionError("not called")

    assert asyncio.run(in_turns(call, [], limit=4)) == []
