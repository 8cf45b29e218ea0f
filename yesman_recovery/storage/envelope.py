"""The record envelope: how one value is laid out in the store, and checked when read back.

Layout of a stored value (all records of every database use it)::

    b"YR"  version:u8  codec:u8  checksum:16 bytes  payload

``payload`` is JSON text (UTF-8), zlib-compressed when ``codec`` says so; it is compressed only
above :data:`COMPRESS_THRESHOLD` bytes and only when that makes it smaller. ``checksum`` is a
16-byte BLAKE2b over the record's key, the four header bytes and the payload, so a flipped byte
anywhere in the value (header, checksum or payload) and a value moved under another key are all
detected before anything is decoded. Decoding is ``json.loads`` and nothing else: a stored byte
can never run code.

States must be plain JSON: ``dict`` with ``str`` keys, ``list`` (a ``tuple`` is stored as a
list), ``str``, ``int``, finite ``float``, ``bool`` and ``None``. Anything else raises a
``ValueError`` naming the key path of the first offending value, e.g. ``$.windows[2].cwd``.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from typing import Any

from yesman_recovery.errors import CorruptRecordError

MAGIC = b"YR"
FORMAT_VERSION = 1
CODEC_JSON = 0
CODEC_JSON_ZLIB = 1
CHECKSUM_SIZE = 16
HEADER_SIZE = len(MAGIC) + 2 + CHECKSUM_SIZE
# Below 16 KiB a record is stored as it is: a typical 10 KB session snapshot then restores
# in ~30 us instead of ~70 us (zlib costs ~40 us each way), and 1,000 of them take ~13 MB.
# Snapshots with scrollback are larger and compress 2-10x.
COMPRESS_THRESHOLD = 16 * 1024
_ZLIB_LEVEL = 1  # higher levels save a few percent for twice the time

_SCALARS = (str, int, bool, type(None))


def _checksum(key: bytes, head: bytes, payload: bytes | memoryview) -> bytes:
    digest = hashlib.blake2b(digest_size=CHECKSUM_SIZE)
    digest.update(len(key).to_bytes(2, "big"))
    digest.update(key)
    digest.update(head)
    digest.update(payload)
    return digest.digest()


def _is_plain_json(value: Any) -> bool:
    """True iff ``value`` is made only of JSON types (the fast check, without paths).

    Recursive (faster than an explicit stack here); a cycle or very deep nesting raises
    ``RecursionError``, which :func:`check_json` reports.
    """
    kind = type(value)
    if kind is dict:
        for key, child in value.items():
            if type(key) is not str:
                return False
            child_kind = type(child)
            if child_kind is str or child_kind is int or child_kind is bool or child is None:
                continue
            if not _is_plain_json(child):
                return False
        return True
    if kind is list or kind is tuple:
        for child in value:
            child_kind = type(child)
            if child_kind is str or child_kind is int or child_kind is bool or child is None:
                continue
            if not _is_plain_json(child):
                return False
        return True
    if kind is float:
        return math.isfinite(value)
    return kind in _SCALARS


def _first_offence(value: Any, path: str) -> tuple[str, str] | None:
    """The key path and description of the first non-JSON value inside ``value``, if any.

    Uses exact types, as :func:`_is_plain_json` does: a ``str`` subclass is not plain JSON.
    """
    kind = type(value)
    if kind is dict:
        for key, child in value.items():
            if type(key) is not str:
                return path, f"key {key!r} is a {type(key).__name__}, not a str"
            step = f".{key}" if key.isidentifier() else f"[{json.dumps(key, ensure_ascii=False)}]"
            found = _first_offence(child, path + step)
            if found:
                return found
        return None
    if kind is list or kind is tuple:
        for index, child in enumerate(value):
            found = _first_offence(child, f"{path}[{index}]")
            if found:
                return found
        return None
    if kind is float:
        return None if math.isfinite(value) else (path, f"{value!r} is not allowed in JSON")
    if kind in _SCALARS:
        return None
    return path, f"a {kind.__module__}.{kind.__qualname__} is not a JSON type"


def check_json(value: Any, what: str = "state") -> None:
    """Raise ``ValueError`` naming the key path if ``value`` is not plain JSON."""
    try:
        if _is_plain_json(value):
            return
        where, problem = _first_offence(value, "$") or ("$", "not JSON")
    except RecursionError:
        raise ValueError(
            f"{what} is not JSON-serialisable: it is nested too deeply or contains itself"
        ) from None
    raise ValueError(
        f"{what} is not JSON-serialisable at {where}: {problem}; store only dict (str keys), "
        "list, str, int, finite float, bool and None (convert the rest first, e.g. str(path))"
    )


def dump_json(value: Any) -> bytes:
    """Canonical JSON bytes of an already checked value (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def compress(payload: bytes) -> tuple[int, bytes]:
    """``(codec, body)`` for a JSON payload: zlib above the threshold when it saves space.

    Done before the write transaction, so that the write lock is not held while compressing.
    """
    if len(payload) > COMPRESS_THRESHOLD:
        packed = zlib.compress(payload, _ZLIB_LEVEL)
        if len(packed) < len(payload):
            return CODEC_JSON_ZLIB, packed
    return CODEC_JSON, payload


def seal_body(key: bytes, codec: int, body: bytes) -> bytes:
    """The stored value of a :func:`compress`-ed payload under ``key``."""
    head = MAGIC + bytes((FORMAT_VERSION, codec))
    return head + _checksum(key, head, body) + body


def seal(key: bytes, payload: bytes) -> bytes:
    """The stored value for JSON ``payload`` under ``key``: header, checksum, maybe compressed."""
    return seal_body(key, *compress(payload))


def intact_checksum(key: bytes, stored: bytes | memoryview) -> bytes | None:
    """The checksum of a stored value if it matches its bytes (no decoding), else None."""
    if len(stored) < HEADER_SIZE or bytes(stored[:2]) != MAGIC:
        return None
    checksum = bytes(stored[4:HEADER_SIZE])
    if _checksum(key, bytes(stored[:4]), stored[HEADER_SIZE:]) != checksum:
        return None
    return checksum


def state_digest(state_json: bytes) -> bytes:
    """A digest of a state's canonical JSON, to tell unchanged states apart cheaply."""
    return hashlib.blake2b(state_json, digest_size=CHECKSUM_SIZE).digest()


def encode(key: bytes, value: Any, what: str = "state") -> bytes:
    """Check, serialise and seal ``value`` for ``key`` (``ValueError`` if not plain JSON)."""
    check_json(value, what)
    return seal(key, dump_json(value))


def open_payload(key: bytes, stored: bytes | memoryview, name: str) -> bytes:
    """The JSON payload of a stored value, after checking it; ``name`` is used in errors.

    Raises :class:`CorruptRecordError` naming ``name`` on any mismatch.
    """
    if len(stored) < HEADER_SIZE or bytes(stored[:2]) != MAGIC:
        raise CorruptRecordError(f"record {name} is corrupt: not a yesman-recovery record header")
    head = bytes(stored[:4])
    checksum = bytes(stored[4:HEADER_SIZE])
    payload = stored[HEADER_SIZE:]
    if _checksum(key, head, payload) != checksum:
        raise CorruptRecordError(f"record {name} is corrupt: checksum mismatch")
    version, codec = head[2], head[3]
    if version != FORMAT_VERSION:
        raise CorruptRecordError(
            f"record {name} has envelope format {version}; this version reads {FORMAT_VERSION}"
        )
    if codec == CODEC_JSON:
        return bytes(payload)
    if codec == CODEC_JSON_ZLIB:
        try:
            return zlib.decompress(payload)
        except zlib.error as exc:
            raise CorruptRecordError(f"record {name} is corrupt: {exc}") from None
    raise CorruptRecordError(f"record {name} is corrupt: unknown codec {codec}")


def decode(key: bytes, stored: bytes | memoryview, name: str) -> Any:
    """The JSON value of a stored record; :class:`CorruptRecordError` naming ``name`` if bad."""
    payload = open_payload(key, stored, name)
    try:
        return json.loads(payload)
    except ValueError as exc:  # a UnicodeDecodeError is a ValueError too
        raise CorruptRecordError(f"record {name} is corrupt: {exc}") from None
