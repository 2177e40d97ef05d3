"""Admission by cost: how much work one API worker lets in at once, and what each request costs.

A request is admitted when its cost fits beside the cost of the requests already in flight; the
next one is refused at once with 503 and `Retry-After` (pls_core/http_guard.py), before its text
reaches the model. Costs are in *beam-tokens*, the tokens a generation may have to produce
across its beams:

- a generation costs chunks x num_beams x max_length (max_length is generated per chunk);
- a text endpoint costs a small constant plus one point per 64 characters it reads (a
  classification, readability, ROUGE, BLEU and SARI are all linear in the text, ROUGE-L too since
  pls_core/metrics.py computes it bit-parallel, and far cheaper than a beam search). Measured on
  2 cores: a beam-token of a T5-base takes 1-2 ms; readability of 20,000 characters 55 ms (the
  formula says 344 points), an evaluation of three 20,000-character texts 0.4 s (969 points):
  text endpoints are counted a few times dearer than they are, which errs on the side of refusing;
- PLS_MAX_INFLIGHT_GENERATIONS gives the capacity in *standard generations*: one chunk, 4 beams,
  256 new tokens (the API's defaults), STANDARD_GENERATION = 1,024 beam-tokens each.

The guard knows a generation's text but not yet its chunks: it reserves one chunk (every text
makes at least one), at most one standard generation, and the service, once it has cut the text,
extends the reservation to every chunk, or refuses with the same 503, still before the model is
touched (`Ticket.update`). Capping the door's share keeps requests that will be refused once
chunked (many beams, long outputs) from filling the room while they are parsed and cut, which
would refuse small requests beside them. A request that alone costs more than the whole capacity
is counted as the whole capacity: it runs when nothing else does, instead of never.

One `Admission` per API worker: each worker has one event loop and every call here runs on it,
so no lock is needed. No BentoML here (pls_core never imports it).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

STANDARD_GENERATION = 1 * 4 * 256  # one chunk x 4 beams x 256 new tokens: the API's defaults
TEXT_BASE_COST = 32  # a text endpoint's fixed part: parsing, one classifier call, the answer
CHARS_PER_POINT = 64

GENERATION_ROUTES = frozenset({"/generate", "/generate-with-metrics"})
TEXT_ROUTES = frozenset({"/classify", "/evaluate"})
COUNTED_ROUTES = GENERATION_ROUTES | TEXT_ROUTES


def generation_cost(chunks: int, num_beams: int, max_length: int) -> int:
    """Beam-tokens a generation of `chunks` chunks may produce."""
    return max(1, chunks) * num_beams * max_length


def text_cost(*texts: str | None) -> int:
    """A classification's or a readability pass's cost: linear in the characters read."""
    return TEXT_BASE_COST + sum(len(text or "") for text in texts) // CHARS_PER_POINT


def evaluation_cost(original: str, generated: str, reference: str | None) -> int:
    """Readability of both texts and, with a reference, ROUGE/BLEU/SARI: all linear in the text."""
    return text_cost(original, generated, reference)


def estimated_parts(path: str, fields: Mapping[str, object]) -> dict[str, int] | None:
    """What the guard reserves for a validated request body, by part: `generation` (one chunk, the
    least any text makes, capped at one standard generation; the service sets the real figure) and
    `text` (exact); None for a route that is not counted."""
    if path in GENERATION_ROUTES:
        one_chunk = generation_cost(1, int(fields.get("num_beams", 4)), int(fields.get("max_length", 256)))
        parts = {"generation": min(one_chunk, STANDARD_GENERATION)}
        technical = str(fields.get("technical_text") or "")
        if path == "/generate-with-metrics":
            # The summary is not written yet: the input's length stands in for it.
            parts["text"] = evaluation_cost(technical, technical, fields.get("reference_pls"))  # type: ignore[arg-type]
        elif fields.get("skip_if_plain"):
            parts["text"] = text_cost(technical)
        return parts
    if path == "/classify":
        return {"text": text_cost(str(fields.get("text") or ""))}
    if path == "/evaluate":
        return {"text": evaluation_cost(str(fields.get("original_text") or ""), str(fields.get("generated_pls") or ""),
                                        fields.get("reference_pls"))}  # type: ignore[arg-type]
    return None


def least_cost(path: str) -> int:
    """The cheapest a request to `path` can be: below this much room it is refused unread."""
    if path in GENERATION_ROUTES:
        return generation_cost(1, 1, 50)  # one chunk, greedy, the shortest max_length allowed
    return TEXT_BASE_COST


class Admission:
    """Cost units in flight in one API worker, at most `capacity` (0 = no cap)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.tickets = 0

    @classmethod
    def in_standard_generations(cls, generations: int) -> Admission:
        return cls(generations * STANDARD_GENERATION)

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def room(self) -> int:
        return self.capacity - self.in_use

    def _clamp(self, cost: int) -> int:
        return min(max(cost, 1), self.capacity)

    def try_acquire(self, parts: Mapping[str, int], started_at: float | None = None) -> Ticket | None:
        """A ticket holding `parts` (their sum, clamped to the capacity), or None when it does not fit."""
        cost = self._clamp(sum(parts.values()))
        if self.in_use + cost > self.capacity:
            return None
        self.in_use += cost
        self.tickets += 1
        return Ticket(self, dict(parts), cost, time.time() if started_at is None else started_at)


@dataclass
class Ticket:
    """One admitted request's share of the capacity, released once (the answer sent, the client
    gone, or the request cancelled by the timeout)."""

    admission: Admission
    parts: dict[str, int]
    cost: int  # what is held: the parts' sum, clamped to the capacity
    started_at: float  # wall-clock seconds: the runner compares job deadlines with its own clock
    released: bool = field(default=False)

    def update(self, **parts: int) -> bool:
        """Set some parts to their real figures; False (and nothing changed) when the new total
        does not fit beside the other requests in flight."""
        if self.released:
            return False
        wanted = {**self.parts, **parts}
        cost = self.admission._clamp(sum(wanted.values()))
        if self.admission.in_use - self.cost + cost > self.admission.capacity:
            return False
        self.admission.in_use += cost - self.cost
        self.parts, self.cost = wanted, cost
        return True

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.admission.in_use -= self.cost
            self.admission.tickets -= 1


# The ticket of the request this task serves: set by the guard, read by the service after chunking.
CURRENT_TICKET: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("pls_admission_ticket", default=None)


def current_ticket() -> Ticket | None:
    return CURRENT_TICKET.get()


def capacity_message(admission: Admission, retry_after_s: int) -> str:
    """The 503's text: the same whether the guard or the service (after chunking) refuses."""
    standard = admission.capacity / STANDARD_GENERATION
    return (f"the service is at capacity (work in progress fills this worker's {standard:g} standard "
            f"generations, PLS_MAX_INFLIGHT_GENERATIONS); retry after {retry_after_s} s")
