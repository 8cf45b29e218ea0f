"""Validators of single values: each returns the final type or raises ``ValueError``.

The message says what is wrong and what is allowed, never the value itself: the error line
built by :mod:`yesman_recovery.config.schema` already shows the key path and the value.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo
from pydantic.functional_validators import PlainValidator
from pydantic_core import PydanticCustomError

from yesman_recovery.config import limits
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


def _shown(seconds: float) -> str:
    for unit, size in (("d", limits.DAY), ("h", limits.HOUR), ("m", limits.MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f'"{seconds / size:g}{unit}"'
    return f'"{seconds * 1000:g}ms"' if seconds < 1 else f'"{seconds:g}s"'


def _duration(
    value: object, *, positive: bool, maximum: float = limits.MAX_DURATION, minimum: float = 0.0
) -> float:
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
    if seconds > maximum:
        raise ValueError(f"must be at most {_shown(maximum)}; use {DURATION_HINT}")
    if seconds < minimum:
        raise ValueError(f"must be at least {_shown(minimum)}; use {DURATION_HINT}")
    return seconds


def positive_duration(value: object) -> float:
    return _duration(value, positive=True)


def nonneg_duration(value: object) -> float:
    return _duration(value, positive=False)


def poll_interval(value: object) -> float:
    return _duration(
        value, positive=True, maximum=limits.MAX_POLL_INTERVAL, minimum=limits.MIN_POLL_INTERVAL
    )


def command_timeout(value: object) -> float:
    return _duration(value, positive=True, maximum=limits.MAX_COMMAND_TIMEOUT)


def optional_max_age(value: object) -> float | None:
    if value is False:
        return None
    try:
        return _duration(value, positive=True, maximum=limits.MAX_RETENTION_AGE)
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
    if size > limits.MAX_SCOPE_BYTES:
        raise ValueError(f'must be at most "1TiB"; use {SIZE_HINT}, or false for no limit')
    return size


def state_size(value: object) -> int:
    """``[storage] max_state_size``: a size from 64 KiB to 1 GiB."""
    allowed = f'{SIZE_HINT} from "64KiB" to "1GiB"'
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError:
            raise _unit_problem(value, allowed) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        raise ValueError(f"expected {allowed}")
    if not limits.MIN_STATE_SIZE <= size <= limits.MAX_STATE_SIZE:
        raise ValueError(f"must be {allowed}")
    return size


def count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limits.MAX_COUNT:
        return value
    raise ValueError(f"must be an integer from 0 to {limits.MAX_COUNT}")


def optional_keep_last(value: object) -> int | None:
    if value is False:
        return None
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 1 <= value <= limits.MAX_KEEP_LAST
    ):
        return value
    raise ValueError(f"must be an integer from 1 to {limits.MAX_KEEP_LAST}, or false for no limit")


def multiplier(value: object) -> float:
    top = limits.MAX_BACKOFF_MULTIPLIER
    if _is_number(value) and 1.0 <= float(value) <= top:  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    raise ValueError(f"must be a number from 1 to {top:g}")


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
    if isinstance(value, int) and 0 <= value <= limits.MAX_SCROLLBACK_LINES:
        return value
    raise ValueError(
        f"must be false, true or a number of lines from 0 to {limits.MAX_SCROLLBACK_LINES}"
    )


def session_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if "." in value or ":" in value:
        raise ValueError("must not contain '.' or ':' (tmux replaces them with '_')")
    return value


def listen(value: object) -> tuple[str, int]:
    """``"host:port"`` where host is an IP address (IPv6 in brackets) or ``localhost``.

    Checked here, not when ``run`` binds: any other host text used to pass the check.
    """
    allowed = (
        'must be "host:port" with host an IP address (IPv6 in brackets) or localhost and a '
        'port from 0 to 65535, e.g. "127.0.0.1:9464" or "[::1]:9464"'
    )
    if not isinstance(value, str):
        raise ValueError(allowed)
    match = re.fullmatch(r"\[([^\]]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", value.strip())
    if match is None:
        raise ValueError(allowed)
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(allowed)
    if host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(allowed) from None
        if (address.version == 6) != (match.group(1) is not None):
            raise ValueError(allowed)
    return host, port


def choice(enum_type: type[Strategy] | type[Restart]) -> Callable[[object], Any]:
    names = ", ".join(json.dumps(m.value) for m in enum_type)

    def validate(value: object) -> Any:
        if isinstance(value, str) and value in {m.value for m in enum_type}:
            return enum_type(value)
        raise ValueError(f"must be one of {names}")

    return validate


def healthz_sessions(value: object) -> str:
    if value in ("declared", "all", "none"):
        return str(value)
    raise ValueError(
        'must be "declared" (a failed declared session is unhealthy), "all" (adopted ones too) '
        'or "none"'
    )


def optional_grace(value: object) -> float | None:
    if value == "off":
        return None
    try:
        return _duration(value, positive=False)
    except ValueError as exc:
        raise ValueError(f'{exc}, or "off"') from None


def server_cgroup(value: object) -> str:
    if value in ("auto", "systemd", "none"):
        return str(value)
    if isinstance(value, str) and value.startswith("/") and "\0" not in value:
        return value
    raise ValueError(
        'must be "auto" (a systemd scope under systemd), "systemd", "none", or the absolute '
        "path of a cgroup directory"
    )


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
