"""The record envelope: how one value is laid out in the store, and checked when read back.

Layout of a stored value (all records of every database use it)::

    b"YR"  version:u8  codec:u8  checksum:16 bytes  payload

``payload`` is JSON text (UTF-8), zlib-compressed when ``codec`` says so; it is compressed only
above :data:`COMPRESS_THRESHOLD` bytes and only when that makes it smaller. ``checksum`` is a
16-byte BLAKE2b over the record's key, the four header bytes and the payload, so a flipped byte
anywhere in the value (header, checksum or payload) and a value moved under another key are all
detected before anything is decoded. Decoding is ``json.loads`` and nothing else: a stored byte
can never run code.

Decoding is bounded: a payload (after inflating) larger than the store's maximum state size
(:data:`DEFAULT_MAX_STATE_SIZE`, ``[storage] max_state_size``) or nested deeper than
:data:`MAX_NESTING` is a :class:`CorruptRecordError`, as is any other failure to decode, so a
crafted record costs at most that much memory and never a traceback. Writing refuses the same
(``ValueError``), so every record written can be read back.

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
_INFLATE_SLICE = 1 << 20
_ZLIB_LEVEL = 1  # higher levels save a few percent for twice the time

_SCALARS = (str, int, bool, type(None))

DEFAULT_MAX_STATE_SIZE = 64 * 1024 * 1024
"""Largest JSON payload (after inflating) read or written: a 100-pane snapshot with 2,000 lines
of scrollback per pane is about 20 MB."""
MAX_NESTING = 128
"""Deepest nesting of lists and objects in a stored value (a session snapshot nests 8 deep)."""


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


def nesting_problem(payload: bytes, value: Any) -> str | None:
    """Why ``value`` (parsed from ``payload``) nests too deeply, or None.

    Counting brackets in the text is C-fast; the objects are walked only when there are more
    brackets than :data:`MAX_NESTING` (iteratively, so depth never costs stack).
    """
    if payload.count(b"[") + payload.count(b"{") <= MAX_NESTING:
        return None
    if type(value) not in (dict, list, tuple):
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list or kind is tuple:
                if depth + 1 > MAX_NESTING:
                    return f"lists and objects nest deeper than {MAX_NESTING}"
                stack.append((child, depth + 1))
    return None


def check_size(payload: bytes, value: Any, what: str, max_size: int) -> None:
    """Raise ``ValueError`` if a JSON ``payload`` is over ``max_size`` bytes or nests too deep."""
    if len(payload) > max_size:
        raise ValueError(
            f"{what} is {len(payload)} bytes of JSON, over the maximum state size of {max_size} "
            "bytes ([storage] max_state_size); store less, e.g. less scrollback"
        )
    problem = nesting_problem(payload, value)
    if problem is not None:
        raise ValueError(f"{what} cannot be stored: {problem}")


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


def encode(
    key: bytes, value: Any, what: str = "state", max_size: int = DEFAULT_MAX_STATE_SIZE
) -> bytes:
    """Check, serialise and seal ``value`` for ``key`` (``ValueError`` if not plain JSON, or
    over the size and nesting limits)."""
    check_json(value, what)
    payload = dump_json(value)
    check_size(payload, value, what, max_size)
    return seal(key, payload)


def open_payload(
    key: bytes, stored: bytes | memoryview, name: str, max_size: int = DEFAULT_MAX_STATE_SIZE
) -> bytes:
    """The JSON payload of a stored value, after checking it; ``name`` is used in errors.

    Raises :class:`CorruptRecordError` naming ``name`` on any mismatch, and for a payload over
    ``max_size`` bytes (inflating stops there: a small record that would inflate to gigabytes
    costs ``max_size`` bytes of memory at most).
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
    too_large = CorruptRecordError(
        f"record {name} holds more than the maximum state size of {max_size} bytes; it is "
        "treated as corrupt (raise storage.max_state_size in the configuration if it is genuine)"
    )
    if codec == CODEC_JSON:
        if len(payload) > max_size:
            raise too_large
        return bytes(payload)
    if codec == CODEC_JSON_ZLIB:
        # In slices, so a bomb is stopped after max_size bytes (zlib's own growing output, or
        # one growing buffer, would peak at 2-3x); joining a genuine record costs twice its size.
        inflater = zlib.decompressobj()
        slices: list[bytes] = []
        size = 0
        data: bytes | memoryview = payload
        try:
            while data and not inflater.eof:
                piece = inflater.decompress(data, _INFLATE_SLICE)
                size += len(piece)
                if size > max_size:
                    slices.clear()  # a traceback kept by the caller must not keep them alive
                    raise too_large
                slices.append(piece)
                data = inflater.unconsumed_tail
        except zlib.error as exc:
            raise CorruptRecordError(f"record {name} is corrupt: {exc}") from None
        if not inflater.eof:
            raise CorruptRecordError(f"record {name} is corrupt: truncated compressed payload")
        return b"".join(slices)
    raise CorruptRecordError(f"record {name} is corrupt: unknown codec {codec}")


def decode(
    key: bytes, stored: bytes | memoryview, name: str, max_size: int = DEFAULT_MAX_STATE_SIZE
) -> Any:
    """The JSON value of a stored record; :class:`CorruptRecordError` naming ``name`` if bad.

    Bounded by ``max_size`` bytes of JSON and :data:`MAX_NESTING` levels; nothing but
    :class:`CorruptRecordError` escapes.
    """
    payload = open_payload(key, stored, name, max_size)
    try:
        value = json.loads(payload)
    except ValueError as exc:  # a UnicodeDecodeError is a ValueError too
        raise CorruptRecordError(f"record {name} is corrupt: {exc}") from None
    except RecursionError:
        raise CorruptRecordError(
            f"record {name} is corrupt: lists and objects nest deeper than {MAX_NESTING}"
        ) from None
    except MemoryError:
        # the payload is bounded, but its objects take more room than its text; the failed
        # allocation is freed with the half-built value
        raise CorruptRecordError(f"record {name} does not fit in memory once decoded") from None
    problem = nesting_problem(payload, value)
    if problem is not None:
        raise CorruptRecordError(f"record {name} is corrupt: {problem}")
    return value
