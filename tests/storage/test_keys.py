"""Keys and checkpoint ids: ordered by time, and ids that survive a command line."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.storage import keys

from .strategies import scopes


@given(scopes, st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_checkpoint_ids_round_trip_and_are_shell_safe(scope: str, time_ns: int, seq: int) -> None:
    key = keys.make_key(keys.scope_bytes(scope), time_ns, seq)
    checkpoint = keys.checkpoint_id(key)
    assert keys.parse_checkpoint_id(checkpoint) == key
    assert checkpoint.isascii()
    assert checkpoint.isprintable()
    assert shlex.quote(checkpoint) == checkpoint  # needs no quoting in a shell
    assert keys.scope_text(keys.split_key(key)[0]) == scope


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1)), min_size=2))
def test_key_order_is_time_order(stamps: list[tuple[int, int]]) -> None:
    raw = keys.scope_bytes("s")
    assert sorted(stamps) == [
        keys.split_key(k)[1:] for k in sorted(keys.make_key(raw, *s) for s in stamps)
    ]


def test_next_stamp_stays_after_the_newest_even_when_the_clock_steps_back() -> None:
    assert keys.next_stamp(100, None) == (100, 0)
    assert keys.next_stamp(100, (50, 7)) == (100, 0)
    assert keys.next_stamp(100, (100, 0)) == (100, 1)
    assert keys.next_stamp(90, (100, 3)) == (100, 4)


@pytest.mark.parametrize("scope", ["", "a\0b", "x" * 600])
def test_bad_scopes_are_refused_with_the_reason(scope: str) -> None:
    with pytest.raises(ValueError, match="`scope`"):
        keys.scope_bytes(scope)


@pytest.mark.parametrize(
    "text", ["nope", "a@123", "a@" + "zz" * 12, "@" + "00" * 12, "%00@" + "00" * 12]
)
def test_malformed_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a checkpoint id"):
        keys.parse_checkpoint_id(text)
