"""Durations and sizes as the configuration writes them: ``"250ms"``, ``"7d"``, ``"100MiB"``."""

from __future__ import annotations

import re

__all__ = ["DURATION_HINT", "SIZE_HINT", "parse_duration", "parse_size"]

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)
DURATION_HINT = 'a duration such as "250ms", "30s", "5m", "2h", "7d" or "1h30m"'
SIZE_HINT = 'a size such as "512KiB", "100MiB", "1GB" or a number of bytes'


def parse_duration(text: str) -> float:
    """Seconds in a duration string: ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"``.

    Units ms, s, m, h, d and w may be combined (``"1h30m"``). Raises ``ValueError`` naming the
    text for anything else, including negative durations.
    """
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration must be >= 0")
    parts = list(_DURATION_PART.finditer(stripped))
    if not parts or "".join(p.group(0) for p in parts).replace(" ", "") != stripped.replace(
        " ", ""
    ):
        raise ValueError(f"{text!r} is not {DURATION_HINT}")
    return sum(float(p.group(1)) * _DURATION_UNITS[p.group(2).lower()] for p in parts)


def parse_size(text: str) -> int:
    """Bytes in a size string: ``"100MiB"`` (1024-based), ``"1GB"`` (1000-based), ``"4096"``.

    ``K``/``M``/``G``/``T`` alone are 1024-based, as in tmux and most tools. Raises ``ValueError``
    naming the text for anything else.
    """
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"{text!r} is negative; a size must be >= 0")
    match = _SIZE.fullmatch(stripped)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not {SIZE_HINT}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
