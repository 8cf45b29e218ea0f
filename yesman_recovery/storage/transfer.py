"""Moving checkpoints between hosts: export to JSON lines with checksums, import them back.

An export is UTF-8 text, one JSON object per line. The first line is a header::

    {"format": "yesman-recovery-checkpoints", "version": 1, "exported_at": 1700000000.0}

and every other line one checkpoint, with its original stamp so that the id is the same on the
new host::

    {"id": "dev@...", "scope": "dev", "time_ns": ..., "seq": 0, "metadata": {...},
     "state": {...}, "sha256": "<hex>"}

``sha256`` is taken over the canonical JSON (sorted keys, no spaces, UTF-8) of the record
without ``sha256`` and ``id``, so an edited or truncated line is detected. An import first
checks every line and stores nothing if any is corrupt (a damaged file is re-sent, not half
applied); then it stores each record under its original id, refusing those already in the store
or earlier in the file. Both name the line numbers of what they refuse.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from yesman_recovery.errors import CorruptRecordError
from yesman_recovery.storage.envelope import dump_json
from yesman_recovery.storage.keys import (
    checkpoint_id,
    make_key,
    parse_checkpoint_id,
    scope_bytes,
    split_key,
)
from yesman_recovery.storage.store import Store

FORMAT = "yesman-recovery-checkpoints"
VERSION = 1


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in ("sha256", "id")}
    return hashlib.sha256(dump_json(body)).hexdigest()


def export_records(
    store: Store,
    scopes: Iterable[str] = (),
    since: float | None = None,
    *,
    latest: bool = False,
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(json_line, None)`` per exportable checkpoint, oldest first per scope, or
    ``("", reason)`` for a corrupt one (skipped). The header comes first.

    ``scopes`` limits the export (all scopes when empty); ``since`` keeps checkpoints from that
    wall time on; ``latest`` keeps the newest intact checkpoint of each scope only.
    """
    yield json.dumps({"format": FORMAT, "version": VERSION, "exported_at": time.time()}), None
    wanted = set(scopes)
    infos = store.checkpoints.list(None, limit=None)
    chosen = [i for i in infos if (not wanted or i.scope in wanted)]
    if since is not None:
        chosen = [i for i in chosen if i.time >= since]
    seen_scopes: set[str] = set()
    lines: list[tuple[str, str | None]] = []
    for info in chosen:  # newest first
        if latest and info.scope in seen_scopes:
            continue
        try:
            checkpoint = store.checkpoints.get(info.id)
        except CorruptRecordError as exc:
            lines.append(("", str(exc)))
            continue
        seen_scopes.add(info.scope)
        _raw, time_ns, seq = split_key(parse_checkpoint_id(info.id))
        record: dict[str, Any] = {
            "scope": checkpoint.scope,
            "time_ns": time_ns,
            "seq": seq,
            "metadata": checkpoint.metadata,
            "state": checkpoint.state,
        }
        record["sha256"] = _digest(record)
        lines.append((json.dumps({"id": info.id, **record}, ensure_ascii=False), None))
    yield from reversed(lines)  # oldest first: an import replays history in order


@dataclass
class ImportReport:
    """What an import did: ids stored, and refused lines as ``(line number, reason)``."""

    imported: list[str] = field(default_factory=list)
    corrupt: list[tuple[int, str]] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True iff no line was refused."""
        return not self.corrupt and not self.duplicates


@dataclass(frozen=True)
class _Record:
    line: int
    scope: str
    time_ns: int
    seq: int
    metadata: dict[str, Any]
    state: Any

    @property
    def id(self) -> str:
        return checkpoint_id(make_key(scope_bytes(self.scope), self.time_ns, self.seq))


def _parse(number: int, text: str) -> _Record:
    """One checkpoint line; ``ValueError`` saying what is wrong with it."""
    try:
        record = json.loads(text)
    except ValueError:
        raise ValueError("not a line of JSON (truncated or edited?)") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = {"scope", "time_ns", "seq", "metadata", "state", "sha256"} - record.keys()
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    if record["sha256"] != _digest(record):
        raise ValueError("checksum mismatch: the record was changed or damaged in transit")
    scope, time_ns, seq = record["scope"], record["time_ns"], record["seq"]
    if not (isinstance(time_ns, int) and isinstance(seq, int) and time_ns >= 0 and seq >= 0):
        raise ValueError("time_ns and seq must be non-negative integers")
    if not isinstance(record["metadata"], dict):
        raise ValueError("metadata must be a JSON object")
    scope_bytes(scope)  # raises ValueError naming the problem
    return _Record(number, scope, time_ns, seq, record["metadata"], record["state"])


def read_export(lines: Iterable[str]) -> tuple[list[_Record], list[tuple[int, str]]]:
    """Check a whole export: its records and its corrupt lines ``(number, reason)``."""
    records: list[_Record] = []
    corrupt: list[tuple[int, str]] = []
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        if not header_seen:
            header_seen = True
            try:
                header = json.loads(text)
            except ValueError:
                header = None
            if not (isinstance(header, dict) and header.get("format") == FORMAT):
                corrupt.append((number, f"not a {FORMAT} export (no header line)"))
                return records, corrupt
            if header.get("version") != VERSION:
                corrupt.append((number, f"export version {header.get('version')!r}; this "
                                f"version reads {VERSION}"))  # fmt: skip
                return records, corrupt
            continue
        try:
            records.append(_parse(number, text))
        except ValueError as exc:
            corrupt.append((number, str(exc)))
    if not header_seen:
        corrupt.append((0, "the file is empty"))
    return records, corrupt


def import_records(store: Store, fp: IO[str]) -> ImportReport:
    """Verify every line of ``fp``, then store its checkpoints (see the module docstring)."""
    report = ImportReport()
    records, report.corrupt = read_export(fp)
    if report.corrupt:
        return report
    first_line: dict[str, int] = {}
    for record in records:
        ident = record.id
        if ident in first_line:
            report.duplicates.append((record.line, f"{ident} repeats line {first_line[ident]}"))
            continue
        first_line[ident] = record.line
        stored = store.checkpoints.put_exported(
            record.scope, record.time_ns, record.seq, record.state, record.metadata
        )
        if stored is None:
            report.duplicates.append((record.line, f"{ident} is already in the store"))
        else:
            report.imported.append(stored)
    return report
