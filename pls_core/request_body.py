"""What the request guard (pls_core/http_guard.py) checks of an API request's body before any
parser sees it: its Content-Type (JSON only), its size (PLS_MAX_BODY_BYTES, from Content-Length
when there is one, else counted as it arrives) and how deep its JSON nests (Python's parser
recurses once per level)."""

from __future__ import annotations

from collections.abc import Iterable

from pls_core.asgi_messages import Receive, Send, send_error

# The deepest JSON a request of this API has is 1 (an object of strings, numbers, booleans).
MAX_JSON_DEPTH = 32
# The one media type the API's POST routes take (parameters such as `; charset=utf-8` aside).
JSON_MEDIA_TYPE = "application/json"


def is_json_content_type(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the request has exactly one Content-Type and it is application/json (any case,
    any parameters). Two Content-Type headers are refused: the guard and BentoML could each read
    a different one."""
    values = [value for name, value in headers if name.lower() == b"content-type"]
    if len(values) != 1:
        return False
    media_type = values[0].split(b";", 1)[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE.encode()


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than `limit` outside JSON strings (a linear scan, no parse)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def read_limited_body(headers: dict[bytes, bytes], receive: Receive, send: Send,
                            max_body_bytes: int) -> bytes | None:
    """The whole body, or None after answering 413 (from Content-Length when there is one)."""
    too_large = (f"the request body is larger than {max_body_bytes} bytes "
                 f"(PLS_MAX_BODY_BYTES); send less text per request")
    declared = headers.get(b"content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            await send_error(send, 400, "the Content-Length header is not a number")
            return None
        if length > max_body_bytes:
            await send_error(send, 413, too_large, {"Connection": "close"})
            return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body_bytes:
            await send_error(send, 413, too_large, {"Connection": "close"})
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
