"""Validators of single values: each returns the final type or raises ``ValueError``.

The message says what is wrong and what is allowed, never the value itself: the error line
built by :mod:`yesman_recovery.config.schema` already shows the key path and the value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo
from pydantic.functional_validators import PlainValidator
from pydantic_core import PydanticCustomError

from yesman_recovery.config.model import SCROLLBACK_TRUE_LINES
from yesman_recovery.config.units import DURATION_HINT, SIZE_HINT, parse_duration, parse_size
from yesman_recovery.supervisors.spec import Restart, Strategy
from yesman_recovery.tmux.programs import ProgramRestart


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unit_problem(text: str, hint: str) -> ValueError:
    # The error line already shows the value: say what is wrong, not the value again.
    if text.strip().startswith("-"):
        return ValueError(f"must not be negative; use {hint}")
    return ValueError(f"expected {hint}")


def _duration(value: object, *, positive: bool) -> float:
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise _unit_problem(value, DURATION_HINT) from None
    elif _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    else:
        raise ValueError(f"expected {DURATION_HINT}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be >= 0; use {DURATION_HINT}")
    if positive and seconds == 0:
        raise ValueError(f"must be > 0; use {DURATION_HINT}")
    return seconds


def positive_duration(value: object) -> float:
    return _duration(value, positive=True)


def nonneg_duration(value: object) -> float:
    return _duration(value, positive=False)


def optional_max_age(value: object) -> float | None:
    if value is False:
        return None
    try:
        return _duration(value, positive=True)
    except ValueError as exc:
        raise ValueError(f"{exc}, or false for no limit") from None


def optional_size(value: object) -> int | None:
    if value is False:
        return None
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError:
            raise _unit_problem(value, f"{SIZE_HINT}, or false for no limit") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        raise ValueError(f"expected {SIZE_HINT}, or false for no limit")
    if size <= 0:
        raise ValueError(f"must be > 0; use {SIZE_HINT}, or false for no limit")
    return size


def count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError("must be an integer >= 0")


def optional_keep_last(value: object) -> int | None:
    if value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError("must be an integer >= 1, or false for no limit")


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def word(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c == "/" for c in value):
        return value
    raise ValueError("must be a non-empty string without spaces or '/'")


def programs(value: object) -> frozenset[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(word(v) for v in value)
    raise ValueError('must be an array of program names, e.g. ["claude", "vim"]')


def restart_rules(value: object) -> tuple[tuple[str, str], ...]:
    names = ", ".join(json.dumps(m.value) for m in ProgramRestart)
    if not isinstance(value, dict):
        raise ValueError(
            "must be a table of program patterns to restart types, e.g. "
            '{"python3 -m http.server*" = "permanent", "make*" = "temporary"}'
        )
    rules = []
    for pattern, kind in value.items():
        if not pattern.strip():
            raise ValueError("a program pattern must not be empty")
        if kind not in {m.value for m in ProgramRestart}:
            raise ValueError(f"{json.dumps(pattern)} = {json.dumps(kind)}: must be one of {names}")
        rules.append((pattern, str(kind)))
    return tuple(rules)


def adopt(value: object) -> tuple[str, ...]:
    if value == "all":
        return ("*",)
    if value == "none":
        return ()
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError('must be "all", "none" or an array of fnmatch patterns, e.g. ["agent-*"]')


def scrollback(value: object) -> int:
    if isinstance(value, bool):
        return SCROLLBACK_TRUE_LINES if value else 0
    if isinstance(value, int) and value >= 0:
        return value
    raise ValueError("must be false, true or a number of lines >= 0")


def session_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if "." in value or ":" in value:
        raise ValueError("must not contain '.' or ':' (tmux replaces them with '_')")
    return value


def listen(value: object) -> tuple[str, int]:
    allowed = 'must be "host:port" with a port from 0 to 65535, e.g. "127.0.0.1:9464"'
    if not isinstance(value, str):
        raise ValueError(allowed)
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", value.strip())
    if match is None:
        raise ValueError(allowed)
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(allowed)
    return host, port


def choice(enum_type: type[Strategy] | type[Restart]) -> Callable[[object], Any]:
    names = ", ".join(json.dumps(m.value) for m in enum_type)

    def validate(value: object) -> Any:
        if isinstance(value, str) and value in {m.value for m in enum_type}:
            return enum_type(value)
        raise ValueError(f"must be one of {names}")

    return validate


def durability(value: object) -> str:
    if value in ("durable", "fast"):
        return str(value)
    raise ValueError('must be "durable" (fsync every commit) or "fast" (no fsync)')


def path(value: object, info: ValidationInfo) -> Path:
    """A path with ``~`` expanded; relative to the config file's folder (``context["base"]``)."""
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty path string")
    given = Path(value).expanduser()
    base = (info.context or {}).get("base")
    return base / given if base is not None and not given.is_absolute() else given


def spec_path(value: object, info: ValidationInfo) -> Path:
    resolved = path(value, info)
    if not resolved.is_file():
        raise ValueError(
            f"no such file: {resolved}; give a tmuxp YAML file (relative to the config)"
        )
    return resolved


def checked(fn: Callable[[object], Any]) -> PlainValidator:
    """Wrap a validator so its ValueError message becomes the whole pydantic error message."""
    return checked_with_info(lambda value, _info: fn(value))


def checked_with_info(fn: Callable[[object, ValidationInfo], Any]) -> PlainValidator:
    """Like :func:`checked`, for validators that read the validation context."""

    def validate(value: object, info: ValidationInfo) -> Any:
        try:
            return fn(value, info)
        except ValueError as exc:
            raise PydanticCustomError("config", "{problem}", {"problem": str(exc)}) from None

    return PlainValidator(validate)
