"""The record envelope: exact round trips, any damaged byte detected, clear errors for non-JSON."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.errors import CorruptRecordError
from yesman_recovery.storage import envelope

from .strategies import json_values

KEY = b"agent-1\0" + bytes(12)


@given(json_values)
def test_any_json_value_round_trips_exactly(value: object) -> None:
    stored = envelope.encode(KEY, value)
    back = envelope.decode(KEY, stored, "r")
    assert envelope.dump_json(back) == envelope.dump_json(value)


@given(json_values, st.data())
def test_any_flipped_byte_is_detected(value: object, data: st.DataObject) -> None:
    stored = bytearray(envelope.encode(KEY, value))
    index = data.draw(st.integers(0, len(stored) - 1), label="index")
    stored[index] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(CorruptRecordError, match="record r "):
        envelope.decode(KEY, bytes(stored), "r")


def test_a_record_moved_under_another_key_is_detected() -> None:
    stored = envelope.encode(KEY, {"a": 1})
    with pytest.raises(CorruptRecordError, match="checksum"):
        envelope.decode(b"agent-2\0" + bytes(12), stored, "r")


def test_truncated_and_foreign_bytes_are_corrupt_not_crashes() -> None:
    stored = envelope.encode(KEY, {"a": 1})
    for damaged in (b"", stored[:10], b"\x80\x04\x95pickle" + stored[10:]):
        with pytest.raises(CorruptRecordError):
            envelope.decode(KEY, damaged, "r")


def test_large_states_are_compressed_and_small_ones_are_not() -> None:
    small = envelope.encode(KEY, {"text": "x" * 100})
    large_state = {"text": "pane output " * 2000}
    large = envelope.encode(KEY, large_state)
    assert small[3] == envelope.CODEC_JSON
    assert large[3] == envelope.CODEC_JSON_ZLIB
    assert len(large) < len(envelope.dump_json(large_state)) / 10
    assert envelope.decode(KEY, large, "r") == large_state


def test_a_payload_compression_would_not_shrink_is_stored_plain() -> None:
    noise = random.Random(0).randbytes(envelope.COMPRESS_THRESHOLD * 2)
    assert envelope.compress(noise) == (envelope.CODEC_JSON, noise)


@pytest.mark.parametrize(
    ("state", "path", "problem"),
    [
        ({"windows": [{"cwd": Path("/tmp")}]}, "$.windows[0].cwd", "pathlib"),
        ({"a": {"b c": {1, 2}}}, '$.a["b c"]', "set"),
        ({"ratio": math.nan}, "$.ratio", "nan"),
        ({"x": [math.inf]}, "$.x[0]", "inf"),
        ({"panes": {3: "zsh"}}, "$.panes", "key 3"),
        (b"bytes", "$", "bytes"),
    ],
)
def test_non_json_state_names_the_key_path(state: object, path: str, problem: str) -> None:
    with pytest.raises(ValueError, match="not JSON-serialisable") as info:
        envelope.encode(KEY, state)
    assert f"at {path}:" in str(info.value)
    assert problem in str(info.value)


def test_tuples_are_stored_as_lists() -> None:
    stored = envelope.encode(KEY, {"size": (200, 50)})
    assert envelope.decode(KEY, stored, "r") == {"size": [200, 50]}


def test_a_state_that_contains_itself_is_refused() -> None:
    state: dict[str, object] = {"a": []}
    state["a"].append(state)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="nested too deeply or contains itself"):
        envelope.encode(KEY, state)
