"""The guard before mapping data.mdb: sound files that end early pass, truncated ones do not."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from yesman_recovery.errors import DamagedStoreError
from yesman_recovery.storage import open_store
from yesman_recovery.storage.datafile import check_data_file

PAGE = 4096
LAST_PGNO = 16 + 120  # MDB_meta's mm_last_pg, after the page header
TXNID = 16 + 128


def fill(state: Path) -> dict[str, dict[str, object]]:
    states = {}
    with open_store(state, durability="fast") as store:
        for i in range(60):
            state_ = {"i": i, "text": f"{i}" * 5000}
            states[store.checkpoints.create(f"s{i % 3}", state_)] = state_
    return states


def newest_meta(data: bytes) -> int:
    """The offset of the meta page with the higher transaction id."""
    txnids = [struct.unpack_from("<Q", data, at + TXNID)[0] for at in (0, PAGE)]
    return 0 if txnids[0] >= txnids[1] else PAGE


def test_a_sound_store_whose_meta_counts_unwritten_free_pages_opens(tmp_path: Path) -> None:
    # Pages a transaction allocated and freed before committing go to the free list unwritten:
    # the meta page counts them, the file does not reach them. Such a store is sound.
    state = tmp_path / "state"
    states = fill(state)
    path = state / "data.mdb"
    data = bytearray(path.read_bytes())
    at = newest_meta(bytes(data)) + LAST_PGNO
    last = struct.unpack_from("<Q", data, at)[0]
    struct.pack_into("<Q", data, at, last + 3)  # three pages past the end, as loose ones are
    path.write_bytes(bytes(data))

    check_data_file(state)
    with open_store(state, durability="fast") as store:
        assert {c.id: store.checkpoints.restore(c.id)
                for c in store.checkpoints.list(limit=None)} == states  # fmt: skip
        store.checkpoints.create("after", {"still": "writable"})


def test_a_cut_on_a_page_boundary_is_caught(tmp_path: Path) -> None:
    state = tmp_path / "state"
    fill(state)
    data = (state / "data.mdb").read_bytes()
    pages = len(data) // PAGE
    # Cuts that keep whole pages: each removes pages the stores uses (the newest tree is at the
    # end), found by the roots or by reading every page in a child process.
    for keep in sorted({2, pages // 3, pages // 2, pages - 2, pages - 1}):
        (state / "data.mdb").write_bytes(data[: keep * PAGE])
        with pytest.raises(DamagedStoreError, match=r"data\.mdb (is truncated|is damaged)"):
            check_data_file(state)


def test_a_sound_store_without_its_lock_file_is_read_through(tmp_path: Path) -> None:
    state = tmp_path / "state"
    fill(state)
    path = state / "data.mdb"
    data = bytearray(path.read_bytes())
    at = newest_meta(bytes(data)) + LAST_PGNO
    struct.pack_into("<Q", data, at, struct.unpack_from("<Q", data, at)[0] + 1)
    path.write_bytes(bytes(data))
    os.remove(state / "lock.mdb")
    check_data_file(state)
