"""The attacks: each says what it sends (outcome.sent) and returns the coroutine function that sends it."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from benchmarks.hostile.payloads import (
    MAX_BEAMS,
    MAX_LENGTH,
    NAME,
    NAME_MARK,
    admission_requests,
    log_records,
    random_paths,
    rouge_requests,
    sentence_splitter_requests,
    syllable_cache_requests,
    validation_requests,
)
from benchmarks.hostile.sending import Sent, encoded, flood
from benchmarks.hostile.server import Server
from benchmarks.hostile.targets import ERROR_BODY_LIMIT, LOG_RECORD_LIMIT, Outcome

ATTACKS = ("paths", "rouge", "sentence-splitter", "syllable-cache", "admission", "validation-log")
# Each attack's time bound (s) unless --attack-s sets one for all.
DEFAULT_SECONDS = {"paths": 60, "rouge": 120, "sentence-splitter": 90, "syllable-cache": 90,
                   "admission": 90, "validation-log": 60}


@dataclass
class Context:
    server: Server
    headers: dict
    args: argparse.Namespace
    texts: list[str]


def attack_paths(ctx: Context, outcome: Outcome) -> Callable:
    count, length = ctx.args.paths, ctx.args.path_chars
    outcome.sent = f"{count:,} GETs of distinct {length:,}-char random paths without a key, 8 at a time"
    paths = random_paths(count, length)
    return lambda client, sent: flood(client, (("GET", path, None) for path in paths), 8, sent)


def attack_rouge(ctx: Context, outcome: Outcome) -> Callable:
    chars = ctx.args.rouge_chars
    requests = rouge_requests(chars)
    outcome.sent = (f"/evaluate of three {chars:,}-char texts of {(chars + 1) // 2:,} one-letter tokens, then "
                    f"/generate-with-metrics (`x,` text, max_length {MAX_LENGTH}, greedy) with such a reference")
    return lambda client, sent: flood(client, encoded(requests), 1, sent)


def attack_sentence_splitter(ctx: Context, outcome: Outcome) -> Callable:
    chars = ctx.args.splitter_chars
    requests = sentence_splitter_requests(chars)
    outcome.sent = (f"{chars:,}-char runs of `!`, `.`, `?` and `. ! ? ` each to /classify, /evaluate, /generate "
                    f"(greedy, 50 tokens): {len(requests)} requests, 2 at a time")
    return lambda client, sent: flood(client, encoded(requests), 2, sent)


def attack_syllable_cache(ctx: Context, outcome: Outcome) -> Callable:
    count, chars = ctx.args.astral_words, ctx.args.astral_chars
    outcome.sent = (f"up to {count:,} distinct {chars:,}-letter astral-plane words (U+1D400...), 3 to /evaluate "
                    f"for 1 to /classify, 4 at a time")
    return lambda client, sent: flood(client, encoded(syllable_cache_requests(count, chars)), 4, sent)


def attack_admission(ctx: Context, outcome: Outcome) -> Callable:
    bodies = admission_requests(ctx.texts, ctx.args.admission_chars)
    generators, flooders = ctx.args.admission_clients, ctx.args.flood_clients
    outcome.sent = (f"{generators} clients sending {ctx.args.admission_chars:,} chars of `x,` with num_beams "
                    f"{MAX_BEAMS}, max_length {MAX_LENGTH} to /generate, beside {flooders} each sending "
                    f"{ctx.args.admission_chars:,}-char /classify and /evaluate, over and over")

    def forever(path: str) -> Iterator[tuple[str, str, bytes]]:
        body = json.dumps(bodies[path]).encode()
        while True:
            yield "POST", path, body

    async def work(client: httpx.AsyncClient, sent: Sent) -> None:
        await asyncio.gather(flood(client, forever("/generate"), generators, sent),
                             flood(client, forever("/classify"), flooders, sent),
                             flood(client, forever("/evaluate"), flooders, sent))
    return work


def attack_validation_log(ctx: Context, outcome: Outcome) -> Callable:
    requests = validation_requests(NAME, ctx.args.validation_chars)
    repeats = ctx.args.big_body_repeats
    big = requests[-1][2]
    outcome.sent = (f"{len(requests) - 1} invalid bodies holding a name ({', '.join(r[0] for r in requests[:-1])}), "
                    f"then a {len(big) / 1000:.0f} KB body of 60,000 unknown keys ×{repeats}")
    server = ctx.server

    async def work(client: httpx.AsyncClient, sent: Sent) -> None:
        leaked, largest_record, logged = [], 0, 0
        try:
            for label, path, body in requests[:-1] + [requests[-1]] * repeats:
                offset = server.log_size()
                await flood(client, [("POST", path, body)], 1, sent)
                await asyncio.sleep(1.0)  # the log is written after the answer
                new = server.log_since(offset)
                logged += len(new)
                largest_record = max([largest_record, *map(len, log_records(new))])
                if NAME_MARK.encode() in new and label not in leaked:
                    leaked.append(label)
        finally:  # also when the attack is cut short
            if server.log is None:
                outcome.notes.append("log not read (give --log)")
            else:
                outcome.notes.append(f"name in the log: {'after ' + ', '.join(leaked) if leaked else 'never'}")
                outcome.notes.append(f"log +{logged / 1000:,.0f} KB, largest record {largest_record:,} B")
                if leaked:
                    outcome.failures.append(f"the name reached the log ({len(leaked)} of {len(requests) - 1})")
                if largest_record > LOG_RECORD_LIMIT:
                    outcome.failures.append(f"a log record of {largest_record / 1e6:.1f} MB")
            outcome.notes.append(f"largest 4xx answer {sent.error_body_max:,} B")
            if sent.error_body_max > ERROR_BODY_LIMIT:
                outcome.failures.append(f"a 4xx answer of {sent.error_body_max / 1e6:.1f} MB")
    return work


ATTACK_FUNCTIONS = {"paths": attack_paths, "rouge": attack_rouge, "sentence-splitter": attack_sentence_splitter,
                    "syllable-cache": attack_syllable_cache, "admission": attack_admission,
                    "validation-log": attack_validation_log}
