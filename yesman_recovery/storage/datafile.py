"""A guard run before LMDB maps ``data.mdb``: a truncated or foreign file is refused clearly.

LMDB maps the data file and trusts it: a page past the end of a truncated file is a SIGBUS that
kills the process with no message (a ``data.mdb`` cut to a third did exactly that to ``run`` and
``checkpoints list``). So the file is read first: its two meta pages (page header, then
``MDB_meta``: magic ``0xBEEFC0DE``, version 1, the page size kept in the free-list database's
``md_pad``, the last used page and the transaction id) must be there, and the file must reach
the last page the newer meta page uses. A file that does not is a :class:`DamagedStoreError`
naming it and saying what to do; :func:`move_aside` renames it so that a fresh, empty store can
be opened in its place (``yesman-recovery run --reset-damaged-store``).

A sound file may still end before the last page its meta page counts: pages a transaction
allocated and freed again before committing ("loose" pages) go to the free list unwritten, so
the file need not reach them (LMDB's own copy clamps to the file's size for this reason). So a
file shorter than that is refused at once only when the shortfall is certain damage — a size
that is not a whole number of pages (LMDB writes whole pages), or a database root page past the
end. Otherwise a child process opens the store read-only and reads every record of every
database, which touches every page in use: if it ends normally the missing pages were free and
the store is sound; a SIGBUS (or a corrupt page) kills only the child, and the file is refused.
The head is read before the size: a store only grows, so a commit landing between the two
cannot make a sound file look short.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from yesman_recovery.errors import DamagedStoreError

logger = logging.getLogger(__name__)

DATA_FILE = "data.mdb"
_MAGIC = 0xBEEFC0DE
_VERSION = 1
_PAGE_HEADER = 16
# offsets inside MDB_meta (64-bit): the free and main databases' MDB_db records hold md_pad
# (where the page size is kept) at 24 and 72 and md_root at 64 and 112
_META_AT = {"magic": 0, "psize": 24, "free_root": 64, "main_root": 112, "last_pgno": 120}
_NO_PAGE = 0xFFFFFFFFFFFFFFFF  # md_root of an empty database
WALK_TIMEOUT = 120.0
"""Seconds the child reading a suspicious file may take; past it the file is taken as sound."""
_MIN_PAGE, _MAX_PAGE = 512, 65536


def check_data_file(directory: Path) -> None:
    """Raise :class:`DamagedStoreError` if ``directory/data.mdb`` is truncated or not LMDB's.

    A missing or empty file is fine (LMDB creates a new store).
    """
    path = directory / DATA_FILE
    try:
        with path.open("rb") as fp:
            head = fp.read(2 * _MAX_PAGE)
            size = os.fstat(fp.fileno()).st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DamagedStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        return
    problem = _problem(head, size)
    if problem == _SHORT:
        problem = _walk(directory)
    if problem is None:
        return
    raise DamagedStoreError(
        f"the store file {path} {problem}; move it aside (mv {path} {path}.damaged) or run "
        "with --reset-damaged-store to start with an empty store (the file is kept beside it)"
    )


def _problem(head: bytes, size: int) -> str | None:
    first = _meta(head, 0)
    if first is None:
        if size < _PAGE_HEADER + 136:
            return f"is too short to be a store ({size} bytes)"
        return "is not an LMDB data file (no valid meta page)"
    psize = first[1]
    if size < 2 * psize:
        return f"is truncated: {size} bytes, shorter than its two meta pages"
    second = _meta(head, psize)
    newest = first if second is None or first[3] >= second[3] else second
    needed = (newest[2] + 1) * psize
    if size >= needed:
        return None
    if size % psize:
        return f"is truncated: {size} bytes, not a whole number of {psize}-byte pages"
    pages = size // psize
    for root in newest[4:]:
        if root != _NO_PAGE and root >= pages:
            end = (root + 1) * psize
            return f"is truncated: {size} bytes, but a database's root page ends at byte {end}"
    return _SHORT  # maybe only free pages are missing: read every page in use to tell


_SHORT = "short"


def _meta(head: bytes, offset: int) -> tuple[int, ...] | None:
    """``(magic, psize, last_pgno, txnid, free_root, main_root)`` of the meta page at
    ``offset``, or None if invalid."""
    at = offset + _PAGE_HEADER
    if len(head) < at + 136:
        return None
    magic, version = struct.unpack_from("<II", head, at)
    psize = struct.unpack_from("<I", head, at + _META_AT["psize"])[0]
    last_pgno, txnid = struct.unpack_from("<QQ", head, at + _META_AT["last_pgno"])
    roots = (struct.unpack_from("<Q", head, at + _META_AT[name])[0]
             for name in ("free_root", "main_root"))  # fmt: skip
    if magic != _MAGIC or version != _VERSION:
        return None
    if not _MIN_PAGE <= psize <= _MAX_PAGE or psize & (psize - 1):
        return None
    return magic, psize, last_pgno, txnid, *roots


# Run in a child: open the store read-only and read every value of every named database (the
# names are the main database's keys), so that every page in use is touched.
_WALK = """
import os, sys, lmdb
# Without a lock file no other process has the store open: read it without one.
lock = os.path.exists(os.path.join(sys.argv[1], "lock.mdb"))
env = lmdb.open(sys.argv[1], readonly=True, lock=lock, max_dbs=64, create=False)
with env.begin() as txn:
    names = [key for key, _ in txn.cursor()]
for name in names:
    try:
        db = env.open_db(name, create=False)
    except lmdb.Error:
        continue
    with env.begin(db=db) as txn:
        for _key, _value in txn.cursor():
            pass
"""


def _walk(directory: Path) -> str | None:
    """Read every page the store uses in a child process; None if it can, else the problem."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _WALK, str(directory)],
            capture_output=True, text=True, timeout=WALK_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        logger.warning(
            "%s is shorter than its meta page says and could not be read through within %.0f s; "
            "opening it anyway", directory / DATA_FILE, WALK_TIMEOUT,
        )  # fmt: skip
        return None
    if done.returncode == 0:
        return None
    if done.returncode == -signal.SIGBUS:
        return "is truncated: reading the pages it uses runs past its end"
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return f"is damaged: reading every record failed ({last})"


def move_aside(directory: Path) -> Path:
    """Rename ``data.mdb`` (and its ``lock.mdb``) to ``*.damaged-<time>``; the new data path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = directory / f"{DATA_FILE}.damaged-{stamp}"
    os.rename(directory / DATA_FILE, target)
    lock = directory / "lock.mdb"
    if lock.exists():
        os.rename(lock, directory / f"lock.mdb.damaged-{stamp}")
    logger.warning("moved the damaged store file aside to %s; starting with an empty store", target)
    return target
