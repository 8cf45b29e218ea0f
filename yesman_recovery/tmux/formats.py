"""The framing of tmux format output: fields and records that survive any text in a value.

Format output is framed with ``FIELD_SEP`` between fields and ``RECORD_END`` + newline after
each record: window names, paths and titles may hold spaces, quotes, tabs and newlines. A value
holding the control characters U+001E or U+001F is not supported.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

FIELD_SEP = "\x1f"
RECORD_END = "\x1e"


def format_of(*fields: str) -> str:
    """Build a ``-F`` format printing ``fields`` (format expressions) as one framed record."""
    return FIELD_SEP.join(fields) + RECORD_END


def parse_records(output: str, width: int | None = None) -> list[list[str]]:
    """Split framed format output into records; with ``width``, other-sized records are dropped."""
    records: list[list[str]] = []
    for chunk in output.split(RECORD_END + "\n"):
        if not chunk.strip("\n"):
            continue
        fields = chunk.lstrip("\n").split(FIELD_SEP)
        if width is not None and len(fields) != width:
            logger.warning("dropping a tmux record with %d fields, expected %d", len(fields), width)
            continue
        records.append(fields)
    return records
