"""Send a burst of long texts from many concurrent clients and tabulate what they get back.

    python loadtests/overload_probe.py --url http://127.0.0.1:3000 --clients 64 --requests 256

Texts are abstracts from data/cochrane/val.source (or ../shared/data/...). Prints answers by
status, how many refusals carried Retry-After, the slowest answer, and the recovery time: from
the end of the burst until a short /generate request is answered 200.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx

from loadtests.probe_cli import positive, probe_parser

REPO = Path(__file__).resolve().parent.parent

errors: Counter[str] = Counter()  # client-side failures (no HTTP answer), by exception
SHORT = {"technical_text": "Patients with hypertension were given diuretics.", "max_length": 50, "num_beams": 1}


def abstracts() -> list[str]:
    for candidate in (REPO / "data" / "cochrane" / "val.source",
                      REPO.parent / "shared" / "data" / "cochrane" / "val.source",
                      Path("/work/shared/data/cochrane/val.source")):
        if candidate.is_file():
            return [line.strip() for line in candidate.read_text().splitlines() if len(line.strip()) > 1500]
    raise SystemExit("val.source not found")


async def burst(url: str, clients: int, total: int, headers: dict, timeout_s: float) -> list[tuple[int, float, bool]]:
    texts = abstracts()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(total):
        queue.put_nowait(number)
    results: list[tuple[int, float, bool]] = []

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            body = {"technical_text": texts[number % len(texts)][:6000]}
            started = time.monotonic()
            try:
                response = await http.post("/generate", json=body)
                results.append((response.status_code, time.monotonic() - started, "retry-after" in response.headers))
            except httpx.HTTPError as error:
                errors[type(error).__name__] += 1
                results.append((0, time.monotonic() - started, False))

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits, headers=headers) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return results


def recovery(url: str, headers: dict, limit_s: float = 120) -> float | None:
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        while time.monotonic() - started < limit_s:
            try:
                if http.post("/generate", json=SHORT).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    return None


def main() -> None:
    parser = probe_parser(__doc__.split("\n")[0])
    parser.add_argument("--clients", type=positive(int), default=64)
    parser.add_argument("--requests", type=positive(int), default=256)
    parser.add_argument("--timeout-s", type=positive(float), default=180)
    args = parser.parse_args()
    headers = dict(args.header)

    started = time.monotonic()
    results = asyncio.run(burst(args.url, args.clients, args.requests, headers, args.timeout_s))
    duration = time.monotonic() - started
    back = recovery(args.url, headers)
    statuses = Counter(status for status, _, _ in results)
    refused = [r for r in results if r[0] in (429, 503)]
    print(f"{'measure':<40} value")
    print(f"{'requests / clients':<40} {len(results)} / {args.clients}")
    print(f"{'answers by status (0 = no answer)':<40} {dict(sorted(statuses.items()))}")
    print(f"{'no answer: client errors':<40} {dict(errors)}")
    print(f"{'shed rate (429+503 / all)':<40} {len(refused) / len(results):.1%}")
    print(f"{'refusals with Retry-After':<40} {sum(r[2] for r in refused)} / {len(refused)}")
    print(f"{'slowest answer (s)':<40} {max(r[1] for r in results):.1f}")
    print(f"{'slowest 200 (s)':<40} {max((r[1] for r in results if r[0] == 200), default=0):.1f}")
    print(f"{'burst duration (s)':<40} {duration:.1f}")
    print(f"{'recovery: burst end -> short 200 (s)':<40} {'none' if back is None else f'{back:.1f}'}")


if __name__ == "__main__":
    main()
