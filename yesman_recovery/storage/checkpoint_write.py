"""How one checkpoint is encoded before a write transaction and put inside one.

Encoding (JSON checks, the size limit, the digest that deduplicates, compression) happens
before the transaction, so the write lock is never held for it; inside, :func:`put_prepared`
stamps the record after its scope's newest and seals it (checksum) under its own key, so a
record written with others in one transaction reads back on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yesman_recovery.storage import envelope
from yesman_recovery.storage.environment import Txn
from yesman_recovery.storage.keys import (
    make_key,
    next_stamp,
    prefix,
    scope_bytes,
    seek_newest,
    split_stamp,
)


@dataclass(frozen=True)
class Prepared:
    """A checkpoint encoded and checked, ready to go into a write transaction."""

    raw: bytes
    codec: int
    body: bytes
    digest: bytes
    now_ns: int


def prepare(
    scope: str, state: Any, metadata: dict[str, Any] | None, max_size: int, now_ns: int
) -> Prepared:
    """Check and encode one checkpoint; ``ValueError`` naming the key path if it is not JSON."""
    raw = scope_bytes(scope)
    envelope.check_json(state)
    envelope.check_json(metadata or {}, "metadata")
    state_json = envelope.dump_json(state)
    envelope.check_size(state_json, state, "state", max_size)
    digest = envelope.state_digest(state_json)
    codec, body = envelope.compress(
        b'{"metadata":' + envelope.dump_json(metadata or {}) + b',"state":' + state_json + b"}"
    )
    return Prepared(raw, codec, body, digest, now_ns)


def newest_record(txn: Txn, db: Any, raw: bytes) -> tuple[bytes | None, Any]:
    """The key and stored value of the scope's newest record (this transaction's view)."""
    cursor = txn.cursor(db)
    newest = seek_newest(cursor, prefix(raw))
    return newest, cursor.value() if newest is not None else None


def put_prepared(
    txn: Txn, db: Any, item: Prepared, newest: bytes | None
) -> tuple[bytes, bool, bytes]:
    """Put ``item`` after ``newest``: ``(key, True, checksum)``."""
    stamp = next_stamp(item.now_ns, split_stamp(newest) if newest is not None else None)
    key = make_key(item.raw, *stamp)
    stored = envelope.seal_body(key, item.codec, item.body)
    txn.put(key, stored, db=db)
    return key, True, stored[4 : envelope.HEADER_SIZE]
