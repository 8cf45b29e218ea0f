"""Fixtures for the storage tests: a real LMDB store in a temporary directory, a fresh metrics
registry, a manual clock, and a way to damage a stored record on disk."""

from __future__ import annotations

import resource
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, envelope, open_store
from yesman_recovery.storage.keys import parse_checkpoint_id
from yesman_recovery.supervisors.clock import ManualClock


@pytest.fixture
def metrics() -> RecoveryMetrics:
    return RecoveryMetrics()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path, metrics: RecoveryMetrics, clock: ManualClock) -> Iterator[Store]:
    with open_store(state_dir, durability="fast", metrics=metrics, clock=clock) as opened:
        yield opened


def stored_checkpoint(
    checkpoint_id: str, state: Any, metadata: dict[str, Any] | None = None
) -> bytes:
    """The exact bytes the store keeps for a checkpoint (the envelope is deterministic)."""
    key = parse_checkpoint_id(checkpoint_id)
    payload = (
        b'{"metadata":'
        + envelope.dump_json(metadata or {})
        + b',"state":'
        + envelope.dump_json(state)
        + b"}"
    )
    return envelope.seal(key, payload)


def flip_on_disk(state_dir: Path, stored: bytes, index: int, xor: int = 0x01) -> int:
    """XOR byte ``index`` of every copy of ``stored`` inside ``data.mdb``; copies changed.

    Old copies of a page may linger in LMDB's free pages, so every copy is changed: the live
    one is then certainly damaged. The environment may stay open (no writemap: LMDB reads the
    file through the page cache and sees the change).
    """
    data_file = state_dir / "data.mdb"
    data = bytearray(data_file.read_bytes())
    changed = 0
    start = data.find(stored)
    while start != -1:
        data[start + index] ^= xor
        changed += 1
        start = data.find(stored, start + 1)
    with data_file.open("r+b") as fp:
        fp.write(data)
    return changed


def sample_value(
    metrics: RecoveryMetrics, name: str, labels: dict[str, str] | None = None
) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def noise(kib: int) -> dict[str, str]:
    """An incompressible state of about ``kib`` KiB."""
    return {"noise": secrets.token_hex(kib * 512)}


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Restore the file-size limit and SIGXFSZ after a test that lowers them."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
