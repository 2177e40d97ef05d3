"""Bounded concurrency for one request's calls: at most `limit` awaited at once, in order.

The API sends a request's chunks to the simplifier this way, so one long request does not put all
its chunks in the runner's queue at once: the batcher takes work first come, first served, and a
short request that arrives behind forty chunks would wait for all forty. With a window of a few
chunks per request, the short request's chunk joins the next batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def in_turns(call: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """`await call(item)` for every item, at most `limit` at a time (started in the items' order),
    results in the items' order. The first failure cancels the calls still running and is raised
    as itself (not as an exception group); cancelling this cancels them all."""
    if not items:
        return []
    window = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> R:
        async with window:
            return await call(item)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]
