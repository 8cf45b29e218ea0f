"""Decoding is bounded: a record that inflates too far, nests too deep or holds any bytes at all
is a CorruptRecordError handled as corruption — never a traceback, never unbounded memory."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yesman_recovery.errors import CorruptRecordError, RecordNotFoundError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, envelope, open_store
from yesman_recovery.storage.keys import checkpoint_id, make_key, scope_bytes
from yesman_recovery.supervisors.clock import ManualClock
from yesman_recovery.tmux.records import SessionSnapshot

from .conftest import sample_value


def plant(store: Store, scope: str, time_ns: int, codec: int, body: bytes) -> str:
    """Write a record with a valid envelope around ``body`` (as a crafted import would)."""
    key = make_key(scope_bytes(scope), time_ns, 0)
    stored = envelope.seal_body(key, codec, body)
    env = store._ctx.env
    env.write(lambda txn: txn.put(key, stored, db=env.dbs["checkpoints"]))
    return checkpoint_id(key)


def zlib_bomb(size: int) -> bytes:
    """A compressed JSON string of ``size`` bytes (a few hundred KB per GiB)."""
    packer = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    parts = [packer.compress(b'{"metadata":{},"state":"')]
    for _ in range(size >> 20):
        parts.append(packer.compress(chunk))
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


def test_a_zlib_bomb_is_corrupt_and_costs_at_most_the_limit(store: Store) -> None:
    good = store.checkpoints.create("s", {"n": 1})
    bomb = plant(store, "s", 2**62, envelope.CODEC_JSON_ZLIB, zlib_bomb(512 << 20))
    tracemalloc.start()
    try:
        latest = store.checkpoints.latest_good("s")
        with pytest.raises(CorruptRecordError, match="maximum state size"):
            store.checkpoints.get(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert latest is not None
    assert latest.id == good
    assert peak < envelope.DEFAULT_MAX_STATE_SIZE * 1.5
    events = store.audit.query(kind="corruption")
    assert [e.subject for e in events] == [bomb]


def test_the_limit_is_configurable_and_writes_obey_it(tmp_path: Path) -> None:
    with open_store(tmp_path / "s", durability="fast", max_state_size=4096) as small:
        with pytest.raises(ValueError, match="maximum state size of 4096"):
            small.checkpoints.create("s", {"text": "x" * 5000})
        ok = small.checkpoints.create("s", {"text": "x" * 100})
        assert small.checkpoints.restore(ok) == {"text": "x" * 100}
    with open_store(tmp_path / "s2", durability="fast") as big:
        written = big.checkpoints.create("s", {"text": "x" * 5000})
    with (
        open_store(tmp_path / "s2", durability="fast", max_state_size=4096) as small,
        pytest.raises(CorruptRecordError, match="maximum state size"),
    ):
        small.checkpoints.get(written)


def test_deep_nesting_is_corrupt_and_the_previous_record_is_used(
    state_dir: Path, metrics: RecoveryMetrics
) -> None:
    with open_store(state_dir, durability="fast", metrics=metrics, clock=ManualClock()) as store:
        good = store.checkpoints.create("s", {"n": 1})
        deep = b'{"metadata":{},"state":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
        plant(store, "s", 2**62, envelope.CODEC_JSON, deep)
        medium = b'{"metadata":{},"state":' + b"[" * 500 + b"]" * 500 + b"}"
        plant(store, "s", 2**62 + 1, envelope.CODEC_JSON, medium)
        latest = store.checkpoints.latest_good("s")
        assert latest is not None
        assert latest.id == good
        report = store.checkpoints.verify()
        assert len(report.corrupt) == 2
        assert all("nest deeper" in reason for _, reason in report.corrupt)
        assert sample_value(metrics, "yesman_recovery_checkpoint_corruptions_total") == 2


def test_writes_refuse_what_reads_would_refuse(store: Store) -> None:
    deep: object = 1
    for _ in range(envelope.MAX_NESTING + 5):
        deep = [deep]
    with pytest.raises(ValueError, match="nest deeper"):
        store.checkpoints.create("s", deep)
    shallow: object = 1
    for _ in range(envelope.MAX_NESTING - 1):
        shallow = [shallow]
    assert store.checkpoints.restore(store.checkpoints.create("s", shallow)) == shallow


bodies = st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=15,
).map(lambda v: json.dumps({"metadata": {}, "state": {"session": v}}).encode())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, compressed=st.booleans(), codec=st.integers(0, 3))
def test_fuzzed_records_fail_only_as_corruption(
    store: Store, body: bytes, compressed: bool, codec: int
) -> None:
    if compressed:
        body, codec = zlib.compress(body), envelope.CODEC_JSON_ZLIB
    checkpoint = plant(store, "fuzz", 2**62, codec, body)
    try:
        found = store.checkpoints.get(checkpoint)
    except CorruptRecordError:
        found = None
    latest = store.checkpoints.latest_good("fuzz")
    store.checkpoints.verify()
    store.checkpoints.list("fuzz")
    if found is not None:
        assert latest is not None
        # the daemon's own decode of a session state: ValueError-like errors only
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
            SessionSnapshot.from_dict(found.state["session"])
    with contextlib.suppress(RecordNotFoundError):
        store.checkpoints.delete(checkpoint)
