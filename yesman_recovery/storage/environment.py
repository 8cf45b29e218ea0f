"""The one LMDB environment of a state directory: opening, sharing, growing, schema.

py-lmdb refuses to open one environment twice in a process, so environments are kept in a
process-wide registry keyed by the directory's real path and reference-counted: every
``open_store`` of the same directory shares one :class:`Environment`, and the last ``close``
closes it. A forked child must not use its parent's environment (LMDB forbids it); it gets a
:class:`StoreError` telling it to open the store after forking.

Growth: the map starts large (virtual address space only; the file grows as data is written).
When a write transaction hits ``MapFullError`` it is aborted, the map is doubled and the write
run again, so writes are plain functions of the transaction that may run more than once.
``set_mapsize`` needs every transaction of this process closed: readers and writers hold
:attr:`Environment._gate` shared, a resize holds it exclusive. Another process sees
``MapResizedError`` on its next transaction and adopts the new size the same way.

Durability: a ``durable`` environment flushes each commit whole (data pages, then the meta page
that points at them) before the commit returns, so a commit that returned survives a machine
crash; many writers at once share one commit (:mod:`~yesman_recovery.storage.group_commit`), so
they share its flushes. ``fast`` flushes nothing but a write that asks for ``force_sync`` (the
journal: written before the side effects it guards). A killed process loses nothing in either.

Schema: ``meta`` holds ``schema`` (ASCII integer). A newer schema is refused with
:class:`SchemaError`; an older one is migrated step by step in one write transaction.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from yesman_recovery.errors import SchemaError, StoreError
from yesman_recovery.storage.datafile import check_data_file
from yesman_recovery.storage.paths import FILE_MODE, check_private, prepare_state_dir

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1
DATABASES = ("checkpoints", "journal", "audit", "meta")
DEFAULT_MAP_SIZE = 1 << 30
MAX_MAP_SIZE = 1 << 40
_SCHEMA_KEY = b"schema"
_DISK_FULL = ("No space left", "File too large", "Disk quota")

Txn = Any  # lmdb.Transaction; py-lmdb ships no type information


def _migrate_0_to_1(txn: Txn, dbs: dict[str, Any]) -> None:
    """Schema 0 (a store written before the schema key existed) has the same layout as 1."""


# from-version -> function that brings a store from that version to the next one
MIGRATIONS: dict[int, Callable[[Txn, dict[str, Any]], None]] = {0: _migrate_0_to_1}


def _disk_full(path: Path) -> bool:
    """True iff the filesystem holding ``path`` has less than 1 MiB left for us."""
    try:
        info = os.statvfs(path)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 1 << 20


class _Gate:
    """A shared/exclusive lock: transactions share it, a map resize takes it alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0  # guarded by _cond: transactions open now in this process
        self._exclusive = False  # guarded by _cond: True iff a resize runs or waits to run

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._shared:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


@dataclass(frozen=True)
class Usage:
    """Space used by the store: bytes per database, the map's size and its used part."""

    db_bytes: dict[str, int]
    map_size: int
    map_used: int


class Environment:
    """An open LMDB environment and its named databases; shared by the stores of one path.

    Thread-safe: any thread may read or write. Not fork-safe (see the module docstring).
    """

    def __init__(self, path: Path, *, durable: bool, map_size: int) -> None:
        self.path = path
        self.durable = durable
        self.pid = os.getpid()
        self.refs = 0  # guarded by the registry lock: open Store objects sharing this
        self._gate = _Gate()
        self.reported_corrupt: set[bytes] = set()  # keys already audited as corrupt
        # raw scope -> (checksum, state digest) of the newest checkpoint this process wrote;
        # trusted only while that checksum is the scope's newest record's (checked under the
        # write lock), so an entry made stale by another process or a delete costs one decode
        self.newest_states: dict[bytes, tuple[bytes, bytes]] = {}
        self.commits = 0  # write transactions committed by this process (benchmarks, tests)
        check_data_file(path)  # before mapping: LMDB SIGBUSes on a truncated file
        try:
            self.env = lmdb.open(
                str(path), map_size=map_size, max_dbs=len(DATABASES) + 2, subdir=True,
                sync=durable, metasync=durable, mode=FILE_MODE, lock=True,
            )  # fmt: skip
        except lmdb.Error as exc:
            raise StoreError(f"cannot open the store in {path}: {exc}") from None
        try:
            for name in ("data.mdb", "lock.mdb"):
                check_private(path / name, directory=False)
            self.dbs: dict[str, Any] = {}
            self.write(self._open_databases)
            self.reader_check()
        except BaseException:
            self.env.close()
            raise

    def _open_databases(self, txn: Txn) -> None:
        for name in DATABASES:
            self.dbs[name] = self.env.open_db(name.encode(), txn=txn, create=True)
        meta = self.dbs["meta"]
        raw = txn.get(_SCHEMA_KEY, db=meta)
        if raw is None:
            empty = all(txn.stat(self.dbs[n])["entries"] == 0 for n in DATABASES)
            version = SCHEMA_VERSION if empty else 0
        else:
            try:
                version = int(raw)
            except ValueError:
                raise SchemaError(
                    f"the store in {self.path} has an unreadable schema version {raw!r}"
                ) from None
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"the store in {self.path} has schema version {version}, but this yesman-recovery "
                f"understands versions up to {SCHEMA_VERSION}: upgrade yesman-recovery, or use "
                "another state directory (--state-dir)"
            )
        while version < SCHEMA_VERSION:
            logger.info("migrating store %s from schema %d to %d", self.path, version, version + 1)
            MIGRATIONS[version](txn, self.dbs)
            version += 1
        if raw is None or int(raw) != version:
            txn.put(_SCHEMA_KEY, str(version).encode(), db=meta)

    # --- transactions ----------------------------------------------------------------------

    def _check_process(self) -> None:
        if os.getpid() != self.pid:
            raise StoreError(
                f"the store in {self.path} was opened by process {self.pid} before a fork; "
                "open it again in this process (LMDB environments must not cross fork())"
            )

    def _adopt_new_size(self) -> None:
        with self._gate.exclusive():
            self.env.set_mapsize(0)

    @contextmanager
    def read(self, *, buffers: bool = False) -> Iterator[Txn]:
        """A read-only transaction (a consistent snapshot) for the ``with`` block.

        With ``buffers`` values are memoryviews, valid only inside the block (no copy).
        """
        self._check_process()
        while True:
            with self._gate.shared():
                try:
                    txn = self.env.begin(buffers=True) if buffers else self.env.begin()
                except lmdb.MapResizedError:
                    pass
                except lmdb.Error as exc:
                    raise StoreError(f"cannot read the store in {self.path}: {exc}") from None
                else:
                    try:
                        yield txn
                    finally:
                        txn.abort()
                    return
            self._adopt_new_size()

    def write(self, work: Callable[[Txn], T], *, force_sync: bool = False) -> T:
        """Run ``work`` in a write transaction and commit it; the map grows when full.

        ``work`` may run more than once (after a resize), so it must only act on the
        transaction. ``force_sync`` flushes the commit whole (meta page included, also in fast
        mode) before returning. A failed write (a full
        disk) raises :class:`StoreError` and leaves the store as it was.
        """
        self._check_process()
        while True:
            with self._gate.shared():
                try:
                    with self.env.begin(write=True) as txn:
                        result = work(txn)
                    self.commits += 1
                    if force_sync and not self.durable:
                        self.env.sync(True)  # data and meta on disk before returning
                    return result
                except lmdb.MapFullError:
                    grow = True
                except lmdb.MapResizedError:
                    grow = False
                except lmdb.Error as exc:
                    raise self._write_error(exc) from None
            if grow:
                self.grow()
            else:
                self._adopt_new_size()

    def _write_error(self, exc: lmdb.Error) -> StoreError:
        # LMDB reports a short write (a disk filling up mid-write) as EIO, so a full disk is
        # recognised by the error text or by the filesystem's free space.
        text = str(exc)
        if any(marker in text for marker in _DISK_FULL) or _disk_full(self.path):
            return StoreError(
                f"the disk holding {self.path} is full ({text}); nothing was written: free "
                "space, or prune old checkpoints with `yesman-recovery checkpoints prune`"
            )
        return StoreError(
            f"cannot write to the store in {self.path} ({text}); nothing was written. If the "
            "disk is full, free space or prune old checkpoints with "
            "`yesman-recovery checkpoints prune`"
        )

    def grow(self) -> None:
        """Double the map size (called after ``MapFullError``)."""
        with self._gate.exclusive():
            current = int(self.env.info()["map_size"])
            if current >= MAX_MAP_SIZE:
                raise StoreError(
                    f"the store in {self.path} reached its maximum size of {MAX_MAP_SIZE} bytes; "
                    "prune old checkpoints with `yesman-recovery checkpoints prune`"
                )
            new = min(current * 2, MAX_MAP_SIZE)
            self.env.set_mapsize(new)
            logger.info("store %s: map grown from %d to %d bytes", self.path, current, new)

    # --- upkeep ----------------------------------------------------------------------------

    def reader_check(self) -> int:
        """Clear reader slots left by dead processes; the number cleared."""
        self._check_process()
        cleared = int(self.env.reader_check())
        if cleared:
            logger.info("store %s: cleared %d stale reader slot(s)", self.path, cleared)
        return cleared

    def usage(self) -> Usage:
        """Bytes per database, map size and the used part of the map."""
        with self.read() as txn:
            db_bytes = {}
            for name, db in self.dbs.items():
                info = txn.stat(db)
                pages = info["branch_pages"] + info["leaf_pages"] + info["overflow_pages"]
                db_bytes[name] = int(pages * info["psize"])
            env_info = self.env.info()
            used = (int(env_info["last_pgno"]) + 1) * int(self.env.stat()["psize"])
            return Usage(db_bytes, int(env_info["map_size"]), used)

    def close(self) -> None:
        """Close the LMDB environment (only the registry calls this, at refs == 0)."""
        self.env.close()


_registry_lock = threading.Lock()
_registry: dict[Path, Environment] = {}  # guarded by _registry_lock: open environments by path


def acquire(path: Path, *, durable: bool, map_size: int = DEFAULT_MAP_SIZE) -> Environment:
    """The shared environment of ``path``, opened (and the directory created) if needed."""
    if map_size <= 0:
        raise ValueError(f"`map_size` must be a positive number of bytes, got {map_size}")
    path = prepare_state_dir(path)
    real = path.resolve()
    with _registry_lock:
        env = _registry.get(real)
        if env is not None and env.pid != os.getpid():
            del _registry[real]  # inherited through fork(): unusable here, never closed here
            env = None
        if env is None:
            env = Environment(real, durable=durable, map_size=map_size)
            _registry[real] = env
        elif env.durable != durable:
            mode = "durable" if env.durable else "fast"
            raise StoreError(
                f"the store in {real} is already open in this process with durability={mode!r}; "
                f"open it again with durability={mode!r} (one process has one durability per store)"
            )
        env.refs += 1
        return env


def release(env: Environment) -> None:
    """Drop one reference to ``env``; the last one closes it."""
    with _registry_lock:
        env.refs -= 1
        if env.refs > 0:
            return
        if _registry.get(env.path) is env:
            del _registry[env.path]
    if env.pid == os.getpid():
        env.close()
