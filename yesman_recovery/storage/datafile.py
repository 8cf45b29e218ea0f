"""A guard run before LMDB maps ``data.mdb``: a truncated or foreign file is refused clearly.

LMDB maps the data file and trusts it: a page past the end of a truncated file is a SIGBUS that
kills the process with no message (a ``data.mdb`` cut to a third did exactly that to ``run`` and
``checkpoints list``). So the file is read first: its two meta pages (page header, then
``MDB_meta``: magic ``0xBEEFC0DE``, version 1, the page size kept in the free-list database's
``md_pad``, the last used page and the transaction id) must be there, and the file must reach
the last page the newer meta page uses. A file that does not is a :class:`DamagedStoreError`
naming it and saying what to do; :func:`move_aside` renames it so that a fresh, empty store can
be opened in its place (``yesman-recovery run --reset-damaged-store``).
"""

from __future__ import annotations

import logging
import os
import struct
import time
from pathlib import Path

from yesman_recovery.errors import DamagedStoreError

logger = logging.getLogger(__name__)

DATA_FILE = "data.mdb"
_MAGIC = 0xBEEFC0DE
_VERSION = 1
_PAGE_HEADER = 16
_META_AT = {"magic": 0, "psize": 24, "last_pgno": 120}  # offsets inside MDB_meta (64-bit)
_MIN_PAGE, _MAX_PAGE = 512, 65536


def check_data_file(directory: Path) -> None:
    """Raise :class:`DamagedStoreError` if ``directory/data.mdb`` is truncated or not LMDB's.

    A missing or empty file is fine (LMDB creates a new store).
    """
    path = directory / DATA_FILE
    try:
        with path.open("rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            head = fp.read(2 * _MAX_PAGE)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DamagedStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        return
    problem = _problem(head, size)
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
    if size < needed:
        return f"is truncated: {size} bytes, but its last used page ends at byte {needed}"
    return None


def _meta(head: bytes, offset: int) -> tuple[int, int, int, int] | None:
    """``(magic, psize, last_pgno, txnid)`` of the meta page at ``offset``, or None if invalid."""
    at = offset + _PAGE_HEADER
    if len(head) < at + 136:
        return None
    magic, version = struct.unpack_from("<II", head, at)
    psize = struct.unpack_from("<I", head, at + _META_AT["psize"])[0]
    last_pgno, txnid = struct.unpack_from("<QQ", head, at + _META_AT["last_pgno"])
    if magic != _MAGIC or version != _VERSION:
        return None
    if not _MIN_PAGE <= psize <= _MAX_PAGE or psize & (psize - 1):
        return None
    return magic, psize, last_pgno, txnid


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
