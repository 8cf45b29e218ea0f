"""The configuration: one TOML file validated into frozen, typed objects before anything starts.

Two layers. The *schema* (:mod:`.schema`: strict pydantic models, ``extra="forbid"``) mirrors
the file, and each value is checked by a validator (:mod:`.validators`) that already returns the
final type: seconds as ``float``, bytes as ``int``, :class:`Strategy`, :class:`Backoff`,
:class:`RetentionPolicy`, paths resolved against the file's folder. The *configuration*
(:mod:`.model`: frozen dataclasses) is what the application consumes and holds the defaults, so
a key absent from the file keeps its dataclass default.

Every problem becomes one :class:`~yesman_recovery.errors.ConfigError` whose lines each read
``FILE: KEY.PATH = VALUE: what is wrong and what is allowed``; all problems of a file are
reported at once. TOML has no null, so limits that can be switched off take ``false``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yesman_recovery.config.model import (
    DEFAULT_PROGRAMS,
    SCROLLBACK_TRUE_LINES,
    Config,
    MetricsConfig,
    SessionConfig,
    StorageConfig,
    SupervisorConfig,
    TmuxConfig,
)
from yesman_recovery.config.units import parse_duration, parse_size

if TYPE_CHECKING:
    from yesman_recovery.config.schema import load_config, parse_config

__all__ = [
    "DEFAULT_PROGRAMS",
    "SCROLLBACK_TRUE_LINES",
    "Config",
    "MetricsConfig",
    "SessionConfig",
    "StorageConfig",
    "SupervisorConfig",
    "TmuxConfig",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
]


def __getattr__(name: str) -> Any:
    # The schema (pydantic, ~100 ms to import) is loaded when a file is first parsed, so a
    # command that runs on the built-in defaults never pays for it.
    if name in ("load_config", "parse_config"):
        from yesman_recovery.config import schema

        return getattr(schema, name)
    raise AttributeError(f"module 'yesman_recovery.config' has no attribute {name!r}")
