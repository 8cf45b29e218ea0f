"""Record keys and the printable ids derived from them.

A checkpoint key is ``scope \\0 time_ns:u64be seq:u32be``: every record of a scope shares the
prefix ``scope \\0``, and byte order is time order, so listing a scope is a prefix scan and its
newest record is one seek. Keys within a scope strictly increase (:func:`next_stamp`), even when
the wall clock steps back or two records are written within one nanosecond tick.

A checkpoint id is ``<percent-encoded scope>@<24 hex digits>``: it holds the whole key, so a
lookup by id is a direct get, and it is plain ASCII without spaces or quotes, safe to paste on a
command line whatever the tmux session name holds (spaces, quotes, non-ASCII).
"""

from __future__ import annotations

import struct
from typing import Any
from urllib.parse import quote, unquote_to_bytes

MAX_KEY_SIZE = 511  # LMDB's compiled-in limit
_STAMP = struct.Struct(">QI")
STAMP_SIZE = _STAMP.size
MAX_SCOPE_SIZE = MAX_KEY_SIZE - 1 - STAMP_SIZE
_SEP = b"\0"


def scope_bytes(scope: str, what: str = "scope") -> bytes:
    """The key bytes of ``scope``; ``ValueError`` if it is empty, holds NUL or is too long."""
    if not isinstance(scope, str) or not scope:
        raise ValueError(f"`{what}` must be a non-empty string, got {scope!r}")
    if "\0" in scope:
        raise ValueError(f"`{what}` must not contain a NUL character, got {scope!r}")
    raw = scope.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_SCOPE_SIZE:
        raise ValueError(
            f"`{what}` is {len(raw)} bytes in UTF-8; at most {MAX_SCOPE_SIZE} fit in a key: "
            "use a shorter name"
        )
    return raw


def scope_text(raw: bytes) -> str:
    """The scope string of key bytes from :func:`scope_bytes`."""
    return raw.decode("utf-8", "surrogateescape")


def prefix(raw_scope: bytes) -> bytes:
    """The key prefix shared by every record of one scope."""
    return raw_scope + _SEP


def make_key(raw_scope: bytes, time_ns: int, seq: int) -> bytes:
    """The key of a record of ``raw_scope`` stamped ``(time_ns, seq)``."""
    return raw_scope + _SEP + _STAMP.pack(time_ns, seq)


def stamp_key(time_ns: int, seq: int) -> bytes:
    """A key made of a stamp alone (records not grouped by scope, e.g. the audit trail)."""
    return _STAMP.pack(time_ns, seq)


def split_key(key: bytes) -> tuple[bytes, int, int]:
    """``(raw_scope, time_ns, seq)`` of a scoped key."""
    time_ns, seq = _STAMP.unpack(key[-STAMP_SIZE:])
    return key[: -STAMP_SIZE - 1], time_ns, seq


def split_stamp(key: bytes) -> tuple[int, int]:
    """``(time_ns, seq)`` of any key (its last 12 bytes)."""
    time_ns, seq = _STAMP.unpack(key[-STAMP_SIZE:])
    return time_ns, seq


def next_stamp(now_ns: int, newest: tuple[int, int] | None) -> tuple[int, int]:
    """The stamp of a new record: ``now_ns``, but always after ``newest`` of the same scope."""
    if newest is None or now_ns > newest[0]:
        return now_ns, 0
    return newest[0], newest[1] + 1


def seek_newest(cursor: Any, pre: bytes) -> bytes | None:
    """Position an LMDB ``cursor`` on the newest key starting with ``pre``; that key, or None.

    Seeks past every key of the prefix and steps back: one seek whatever the store's size.
    """
    found = cursor.prev() if cursor.set_range(pre + b"\xff" * STAMP_SIZE) else cursor.last()
    if not found:
        return None
    key = bytes(cursor.key())
    return key if key.startswith(pre) else None


def checkpoint_id(key: bytes) -> str:
    """The printable id of a scoped key: ``<percent-encoded scope>@<hex stamp>``."""
    # quote() leaves "~" alone, but a leading "~" would be tilde-expanded by a shell
    scope = quote(key[: -STAMP_SIZE - 1], safe="").replace("~", "%7E")
    return scope + "@" + key[-STAMP_SIZE:].hex()


def parse_checkpoint_id(checkpoint: str) -> bytes:
    """The key of a checkpoint id; ``ValueError`` naming the id if it is malformed."""
    scope, at, stamp = checkpoint.rpartition("@") if isinstance(checkpoint, str) else ("", "", "")
    if not at or not scope or len(stamp) != 2 * STAMP_SIZE:
        raise ValueError(
            f"{checkpoint!r} is not a checkpoint id: expected <scope>@<24 hex digits>, as "
            "printed by `yesman-recovery checkpoints list`"
        )
    try:
        raw_stamp = bytes.fromhex(stamp)
    except ValueError:
        raise ValueError(
            f"{checkpoint!r} is not a checkpoint id: {stamp!r} is not 24 hex digits"
        ) from None
    raw_scope = unquote_to_bytes(scope)
    if not raw_scope or _SEP in raw_scope or len(raw_scope) > MAX_SCOPE_SIZE:
        raise ValueError(f"{checkpoint!r} is not a checkpoint id: its scope is not valid")
    return raw_scope + _SEP + raw_stamp
