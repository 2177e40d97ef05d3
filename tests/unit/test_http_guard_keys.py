"""Access control in the request guard (pls_core/http_guard.py, pls_core/api_keys.py): where the
keys come from, where a request presents one, and how it is compared with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pls_core.api_keys import key_matches, load_api_keys, presented_key
from pls_core.config import ConfigError, load_config
from tests.support.http_guard_calls import FILE_KEY, KEY


def test_keys_from_the_variable_and_the_file_are_both_accepted(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026-11\n{FILE_KEY}\n\n")
    config = load_config({"PLS_API_KEYS": f" {KEY} ,", "PLS_API_KEYS_FILE": str(key_file)})
    assert load_api_keys(config) == (KEY.encode(), FILE_KEY.encode())


def test_no_keys_means_access_control_off() -> None:
    assert load_api_keys(load_config({})) == ()


@pytest.mark.parametrize("env,message", [
    ({"PLS_API_KEYS": "short"}, "key 1 is shorter than 16"),
    ({"PLS_API_KEYS": f"{KEY},{KEY[:-1]}é"}, "key 2 must be printable ASCII"),
])
def test_weak_or_odd_keys_are_refused_without_echoing_them(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(env)
    assert "short" not in str(raised.value).replace("shorter", "")


def test_an_unreadable_or_empty_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_api_keys(load_config({"PLS_API_KEYS_FILE": str(tmp_path / "missing")}))
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="holds no key"):
        load_api_keys(load_config({"PLS_API_KEYS_FILE": str(tmp_path / "empty")}))


def test_keys_never_appear_in_the_config_repr() -> None:
    assert KEY not in repr(load_config({"PLS_API_KEYS": KEY}))


def test_key_is_read_from_bearer_or_x_api_key() -> None:
    assert presented_key({b"authorization": b"Bearer abc"}) == b"abc"
    assert presented_key({b"authorization": b"bearer  abc "}) == b"abc"
    assert presented_key({b"x-api-key": b"abc"}) == b"abc"
    assert presented_key({b"authorization": b"Basic abc"}) is None
    assert presented_key({}) is None


def test_key_matching_is_exact() -> None:
    keys = (KEY.encode(), FILE_KEY.encode())
    assert key_matches(FILE_KEY.encode(), keys)
    assert not key_matches(KEY.encode()[:-1], keys)
    assert not key_matches(KEY.encode() + b"x", keys)
    assert not key_matches(KEY.upper().encode(), keys)


def test_keys_are_compared_as_digests_of_one_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare_digest's time depends on its arguments' lengths: it is only ever given 32-byte
    digests. Before: the raw key presented was compared with each configured key."""
    import hmac

    lengths = []
    real = hmac.compare_digest

    def recording(a, b):
        lengths.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    keys = (KEY.encode(), (FILE_KEY * 3).encode())
    for presented in (b"x", KEY.encode(), b"y" * 5000):
        key_matches(presented, keys)
    assert key_matches(KEY.encode(), keys) and not key_matches(KEY.encode()[:-1], keys)
    assert set(lengths) == {(32, 32)}, set(lengths)
