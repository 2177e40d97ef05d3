"""API keys for the request guard (pls_core/http_guard.py): where they come from, where a request
presents one, and how a presented key is compared with the configured ones.

Keys are compared as HMAC-SHA-256 digests under a secret drawn when the process starts: every
digest is 32 bytes, so the comparison takes the same time whatever the length of the key
presented, and says nothing about the configured keys' lengths.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

from pls_core.config import Config, ConfigError, parse_api_keys

# The challenge of a 401 (`WWW-Authenticate`): the key goes in `Authorization: Bearer KEY`.
REALM = 'Bearer realm="pls-api"'

_DIGEST_SECRET = secrets.token_bytes(32)


def key_digest(key: bytes) -> bytes:
    return hmac.new(_DIGEST_SECRET, key, hashlib.sha256).digest()


def load_api_keys(config: Config) -> tuple[bytes, ...]:
    """The keys from PLS_API_KEYS and PLS_API_KEYS_FILE, as bytes for key_matches."""
    keys = list(config.api_keys)
    if config.api_keys_file:
        path = Path(config.api_keys_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"PLS_API_KEYS_FILE={path}: cannot read it ({error.__class__.__name__})") from None
        keys.extend(parse_api_keys(f"PLS_API_KEYS_FILE={path}", text))
        if not keys:
            raise ConfigError(f"PLS_API_KEYS_FILE={path} holds no key: access control would be off")
    return tuple(key.encode("ascii") for key in keys)


def key_matches(presented: bytes, keys: Iterable[bytes]) -> bool:
    """Constant-time comparison of fixed-length digests with every configured key (no early exit
    on a match either)."""
    presented_digest = key_digest(presented)
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented_digest, key_digest(key))
    return matched


def presented_key(headers: dict[bytes, bytes]) -> bytes | None:
    """The key from `Authorization: Bearer KEY` or `X-API-Key: KEY`, if either is there."""
    authorization = headers.get(b"authorization", b"")
    scheme, _, value = authorization.partition(b" ")
    if scheme.lower() == b"bearer" and value.strip():
        return value.strip()
    api_key = headers.get(b"x-api-key", b"").strip()
    return api_key or None
