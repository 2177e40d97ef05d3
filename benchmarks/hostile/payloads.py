"""The attacks' data: small pure generators of their requests (tests/unit/test_bench_hostile.py checks
their shapes), and the log's records for the validation-log attack."""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterator

MAX_TEXT_CHARS = 20_000  # PLS_MAX_TEXT_CHARS' default: the longest text a request may carry
MAX_LENGTH = 512  # the largest max_length the API takes
MAX_BEAMS = 10  # the largest num_beams the API takes
NAME = "Zebulona Quartermaine-Okafor"  # looked for in the log: no real text holds it
NAME_MARK = "Quartermaine"
ASTRAL_FIRST, ASTRAL_LETTERS = 0x1D400, 52  # MATHEMATICAL BOLD CAPITAL A ... SMALL Z: letters, 4 bytes each


def random_paths(count: int, length: int, seed: int = 0) -> list[str]:
    """`count` distinct paths of `length` characters (the leading / included), letters and digits."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    paths: dict[str, None] = {}
    while len(paths) < count:
        paths["/" + "".join(rng.choices(alphabet, k=length - 1))] = None
    return list(paths)


def token_text(chars: int, seed: int) -> str:
    """At most `chars` characters of one-character tokens (a-z, 0-9) between single spaces: the
    most tokens a text of that length can hold, so ROUGE-L's table is as large as it gets."""
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase + string.digits
    return " ".join(rng.choices(alphabet, k=(chars + 1) // 2))


def rouge_requests(chars: int = MAX_TEXT_CHARS) -> list[tuple[str, dict]]:
    """(path, body): /evaluate with three different token texts, then /generate-with-metrics whose
    reference is one (its text of `x,` makes the demo model write about 12,000 tokens back)."""
    return [
        ("/evaluate", {"original_text": token_text(chars, 1), "generated_pls": token_text(chars, 2),
                       "reference_pls": token_text(chars, 3)}),
        ("/generate-with-metrics", {"technical_text": "x," * (chars // 2), "reference_pls": token_text(chars, 4),
                                    "max_length": MAX_LENGTH, "num_beams": 1}),
    ]


def punctuation_texts(chars: int = MAX_TEXT_CHARS) -> dict[str, str]:
    """Texts of exactly `chars` characters: a word (the API wants one) then a run of `!`, of `.`,
    of `?`, and `. ! ? ` repeated (many one-mark sentences)."""
    def fill(unit: str) -> str:
        return ("Results" + unit * chars)[:chars]
    return {"!": fill("!"), ".": fill("."), "?": fill("?"), ". ! ? ": fill(". ! ? ")}


def sentence_splitter_requests(chars: int = MAX_TEXT_CHARS) -> list[tuple[str, dict]]:
    """Each punctuation text to /classify, /evaluate and /generate (greedy, 50 tokens: the cost
    is the splitting, not the model)."""
    requests = []
    for text in punctuation_texts(chars).values():
        requests += [("/classify", {"text": text}),
                     ("/evaluate", {"original_text": text, "generated_pls": text}),
                     ("/generate", {"technical_text": text, "max_length": 50, "num_beams": 1})]
    return requests


def astral_word(number: int, chars: int = MAX_TEXT_CHARS, seed: int = 0) -> str:
    """A word of `chars` astral-plane letters, different for each `number` (its first four letters
    spell it in base 52; the rest is the same seeded tail)."""
    head = []
    for _ in range(4):
        number, digit = divmod(number, ASTRAL_LETTERS)
        head.append(chr(ASTRAL_FIRST + digit))
    rng = random.Random(seed)
    tail = "".join(chr(ASTRAL_FIRST + rng.randrange(ASTRAL_LETTERS)) for _ in range(chars - 4))
    return "".join(head) + tail


def syllable_cache_requests(count: int, chars: int = MAX_TEXT_CHARS) -> Iterator[tuple[str, dict]]:
    """`count` requests, each with a word no earlier one had: /evaluate (its generated_pls), and
    every fourth /classify (four times slower: it asks the classifier too). A generator: the words
    are made as they are sent."""
    tail = astral_word(0, chars)[4:]
    for number in range(count):
        word = astral_word(number, 4) + tail
        if number % 4 == 3:
            yield "/classify", {"text": word}
        else:
            yield "/evaluate", {"original_text": "Original text.", "generated_pls": word}


def admission_requests(texts: list[str], chars: int = MAX_TEXT_CHARS) -> dict[str, dict]:
    """The three kinds of request of the admission attack, by path: the costliest generation the
    API takes, and the longest /classify and /evaluate of real text."""
    real = " ".join(texts)
    while len(real) < 2 * chars:
        real += " " + real
    return {
        "/generate": {"technical_text": "x," * (chars // 2), "max_length": MAX_LENGTH, "num_beams": MAX_BEAMS},
        "/classify": {"text": real[:chars].strip()},
        "/evaluate": {"original_text": real[:chars].strip(), "generated_pls": real[chars:2 * chars].strip()},
    }


def unknown_keys_body(keys: int = 60_000) -> bytes:
    """A JSON object of `keys` unknown keys (and no required one): about 650 KB for 60,000."""
    return json.dumps({f"k{number:05d}": 0 for number in range(keys)}, separators=(",", ":")).encode()


def validation_requests(name: str = NAME, chars: int = MAX_TEXT_CHARS) -> list[tuple[str, str, bytes]]:
    """(label, path, body): each invalid, each but the last holding `name` where a validation
    message could quote it (pydantic quotes a short value whole, a long one's first and last 24
    characters, and a dict's values cut short)."""
    text = f"{name}, 54, was admitted with chest pain and treated with aspirin and heparin."
    long_text = ((text + " ") * (chars // len(text) + 2))[:chars + 100 - len(name)] + name
    def body(value: dict) -> bytes:
        return json.dumps(value).encode()
    return [
        ("bad max_length", "/generate", body({"technical_text": text, "max_length": 5})),
        ("text too long", "/generate", body({"technical_text": long_text})),
        ("text as a list", "/classify", body({"text": [name]})),
        ("unknown field", "/classify", body({"text": text, "patient": name})),
        ("field missing", "/evaluate", body({"original_text": text, "max_length": 5})),
        ("60,000 unknown keys", "/generate", unknown_keys_body()),
    ]


LOG_RECORD_START = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", re.MULTILINE)


def log_records(log: bytes) -> list[bytes]:
    """The log's records: each starts with a timestamp line, and a traceback's lines belong to it."""
    starts = [match.start() for match in LOG_RECORD_START.finditer(log)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [record for record in (log[a:b] for a, b in zip(starts, [*starts[1:], len(log)])) if record]


def normal_body(texts: list[str]) -> dict:
    """The normal request: /generate with its defaults on the shortest abstract."""
    return {"technical_text": min(texts, key=len)}
