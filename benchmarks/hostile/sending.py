"""Sending an attack's requests: many clients at once, counted by route and status, within a time bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from benchmarks.hostile.monitor import Monitor
from benchmarks.hostile.targets import CUT

API_ROUTES = ("/generate", "/generate-with-metrics", "/classify", "/evaluate")


def route_of(path: str) -> str:
    return path if path in API_ROUTES else "other paths"


@dataclass
class Sent:
    statuses: Counter = field(default_factory=Counter)  # (route, status) -> answers
    in_flight: Counter = field(default_factory=Counter)  # route -> requests sent and not answered
    error_body_max: int = 0  # the largest 4xx answer, bytes
    slowest_s: float = 0.0  # the slowest answer (or failure)

    @property
    def count(self) -> int:
        return sum(self.statuses.values()) + sum(self.in_flight.values())


async def flood(client: httpx.AsyncClient, requests: Iterable[tuple[str, str, bytes | None]],
                concurrency: int, sent: Sent) -> None:
    """Send (method, path, body) from `requests` with `concurrency` clients until it runs out."""
    iterator = iter(requests)

    async def one_client() -> None:
        for method, path, body in iterator:
            route = route_of(path)
            sent.in_flight[route] += 1
            started = time.monotonic()
            try:
                response = await client.request(method, path, content=body,
                                                headers={"content-type": "application/json"} if body else None)
                status = response.status_code
                if 400 <= status < 500:
                    sent.error_body_max = max(sent.error_body_max, len(response.content))
            except httpx.HTTPError:
                status = 0
            # Not reached when the attack's bound cancels the request: `bounded` counts it as CUT.
            sent.in_flight[route] -= 1
            sent.statuses[route, status] += 1
            sent.slowest_s = max(sent.slowest_s, time.monotonic() - started)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


def encoded(requests: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, str, bytes]]:
    for path, body in requests:
        yield "POST", path, json.dumps(body, ensure_ascii=False).encode()


async def bounded(work: Callable[[httpx.AsyncClient, Sent], object], url: str, headers: dict,
                  seconds: float, monitor: Monitor, sent: Sent,
                  transport: httpx.AsyncBaseTransport | None = None) -> bool:
    """Run `work` until it ends, `seconds` pass or the monitor says stop; False if it was cut short.
    The requests then in flight are counted as CUT."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=seconds + 5, limits=limits,
                                 transport=transport) as client:
        task = asyncio.ensure_future(work(client, sent))
        deadline = time.monotonic() + seconds
        while not task.done() and time.monotonic() < deadline and not monitor.abort_reason:
            await asyncio.sleep(0.1)
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for route, count in sent.in_flight.items():
            if count > 0:
                sent.statuses[route, CUT] += count
        sent.in_flight.clear()
        return False
