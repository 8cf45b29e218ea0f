"""``[[health_checks]]``: the schema of one check, its cross-key checks, and its model.

One flat table serves every kind; :func:`check_health_checks` then rejects keys that do not
belong to the check's kind and combinations that cannot work (a timeout not shorter than the
interval, a heal the kind cannot do, a URL that does not parse), each as one
``FILE: health_checks[i].key = VALUE: problem`` line like every other configuration error.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from yesman_recovery.config import validators as v
from yesman_recovery.config.units import SIZE_HINT
from yesman_recovery.health import policy as p

KINDS = ("memory", "cpu", "disk", "process", "http", "tcp", "tmux_server", "store", "command")
HEALS = ("none", "command", "prune", "sessions", "hook")
COMMON = frozenset(
    {
        "name", "kind", "interval", "timeout", "failure_threshold", "success_threshold",
        "start_grace", "flap_window", "flap_threshold", "flap_leave_threshold", "heal",
        "heal_command", "heal_hook", "heal_timeout", "heal_max", "heal_window", "heal_backoff",
        "critical", "restart_on_escalation",
    }
)  # fmt: skip
_PROCESS = frozenset({"pid_file", "process_name", "pattern"})
KIND_KEYS: dict[str, frozenset[str]] = {
    "memory": _PROCESS | {"max_percent", "max_rss"},
    "cpu": frozenset({"max_percent", "window"}),
    "disk": frozenset(
        {
            "path",
            "min_free",
            "min_free_percent",
            "min_free_inodes_percent",
            "prune_paths",
            "prune_older_than",
        }
    ),
    "process": _PROCESS,
    "http": frozenset({"url", "expect_status"}),
    "tcp": frozenset({"host", "port"}),
    "tmux_server": frozenset(),
    "store": frozenset(),
    "command": frozenset({"command"}),
}
KIND_HEALS: dict[str, tuple[str, ...]] = {
    "disk": ("prune", "command", "hook", "none"),
    "tmux_server": ("sessions", "none"),
    "store": ("none", "command", "hook"),
}
"""Heals each kind allows, its default first; kinds not listed allow none, command and hook."""


def _choice(allowed: tuple[str, ...]) -> Any:
    names = ", ".join(json.dumps(a) for a in allowed)

    def validate(value: object) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        raise ValueError(f"must be one of {names}")

    return v.checked(validate)


def _threshold(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError("must be an integer >= 1")


def _optional_threshold(value: object) -> int | None:
    if value is False:
        return None
    try:
        return _threshold(value)
    except ValueError:
        raise ValueError("must be an integer >= 1, or false to switch flap detection off") from None


def _percent(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 100:
        return float(value)
    raise ValueError("must be a percentage above 0 and at most 100")


def _size(value: object) -> int:
    size = v.optional_size(value)
    if size is None:
        raise ValueError(f"expected {SIZE_HINT}")
    return size


def _command(value: object) -> str | tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(x, str) and x for x in value):
        return tuple(value)
    raise ValueError('must be a shell command string or an argv array, e.g. ["systemctl", "…"]')


def _statuses(value: object) -> frozenset[int]:
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(x, int) and not isinstance(x, bool) and 100 <= x <= 599
                     for x in items):  # fmt: skip
        return frozenset(items)
    raise ValueError("must be an HTTP status from 100 to 599, or an array of them")


def _port(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    raise ValueError("must be a port from 1 to 65535")


def _text(value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError("must be a non-empty string")


def _paths(value: object, info: Any) -> tuple[Path, ...]:
    if isinstance(value, list) and all(isinstance(x, str) and x for x in value):
        return tuple(v.path(x, info) for x in value)
    raise ValueError('must be an array of directory paths, e.g. ["~/logs"]')


Duration = Annotated[float, v.checked(v.positive_duration)]


class HealthCheckTable(BaseModel):
    """One ``[[health_checks]]`` entry as written (strict; unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, v.checked(_text)]
    kind: Annotated[str, _choice(KINDS)]
    interval: Duration = p.DEFAULT_INTERVAL
    timeout: Duration = p.DEFAULT_MAX_TIMEOUT
    failure_threshold: Annotated[int, v.checked(_threshold)] = p.DEFAULT_FAILURE_THRESHOLD
    success_threshold: Annotated[int, v.checked(_threshold)] = p.DEFAULT_SUCCESS_THRESHOLD
    start_grace: Annotated[float, v.checked(v.nonneg_duration)] = 0.0
    flap_window: Duration = 200.0
    flap_threshold: Annotated[int | None, v.checked(_optional_threshold)] = 8
    flap_leave_threshold: Annotated[int, v.checked(v.count)] = p.DEFAULT_FLAP_LEAVE_THRESHOLD
    heal: Annotated[str, _choice(HEALS)] = "none"
    heal_command: Annotated[str | tuple[str, ...], v.checked(_command)] = ""
    heal_hook: Annotated[str, v.checked(_text)] = ""
    heal_timeout: Duration = p.DEFAULT_HEAL_TIMEOUT
    heal_max: Annotated[int, v.checked(_threshold)] = p.DEFAULT_HEAL_MAX
    heal_window: Duration = p.DEFAULT_HEAL_WINDOW
    heal_backoff: Duration = p.DEFAULT_HEAL_BACKOFF
    critical: Annotated[bool, v.checked(v.boolean)] = False
    restart_on_escalation: Annotated[str, v.checked(_text)] = ""
    # kind-specific
    max_percent: Annotated[float, v.checked(_percent)] = 90.0
    max_rss: Annotated[int, v.checked(_size)] = 0
    window: Duration = 60.0
    pid_file: Annotated[Path, v.checked_with_info(v.path)] = Path()
    process_name: Annotated[str, v.checked(_text)] = ""
    pattern: Annotated[str, v.checked(_text)] = ""
    path: Annotated[Path, v.checked_with_info(v.path)] = Path()
    min_free: Annotated[int, v.checked(_size)] = 0
    min_free_percent: Annotated[float, v.checked(_percent)] = 10.0
    min_free_inodes_percent: Annotated[float, v.checked(_percent)] = 5.0
    prune_paths: Annotated[tuple[Path, ...], v.checked_with_info(_paths)] = ()
    prune_older_than: Duration = 7 * 86400.0
    url: Annotated[str, v.checked(_text)] = ""
    expect_status: Annotated[frozenset[int], v.checked(_statuses)] = frozenset({200})
    host: Annotated[str, v.checked(_text)] = "127.0.0.1"
    port: Annotated[int, v.checked(_port)] = 0
    command: Annotated[str | tuple[str, ...], v.checked(_command)] = ""


@dataclass(frozen=True)
class HealthCheckConfig:
    """One validated ``[[health_checks]]`` entry; ``options`` holds the kind's own keys."""

    name: str
    kind: str
    policy: p.CheckPolicy
    heal: str
    heal_command: str | tuple[str, ...] | None = None
    heal_hook: str | None = None
    critical: bool = False
    restart_on_escalation: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        """The kind-specific option ``key`` as the file set it, else ``default``."""
        return dict(self.options).get(key, default)


_POLICY_KEYS = (
    "interval", "timeout", "failure_threshold", "success_threshold", "start_grace",
    "flap_window", "flap_threshold", "flap_leave_threshold", "heal_max", "heal_window",
    "heal_backoff", "heal_timeout",
)  # fmt: skip


def check_health_checks(where: str, tables: list[HealthCheckTable]) -> list[str]:
    """Problems across keys, one error line each (empty when all is well)."""
    problems: list[str] = []
    first: dict[str, int] = {}
    for i, t in enumerate(tables):
        given = t.model_fields_set

        def bad(key: str, problem: str, *, _i: int = i, _t: HealthCheckTable = t) -> None:
            shown = _shown(getattr(_t, key))
            problems.append(f"{where}: health_checks[{_i}].{key} = {shown}: {problem}")

        if t.name in first:
            bad("name", f"duplicate of health_checks[{first[t.name]}].name; names must be unique")
        first.setdefault(t.name, i)
        allowed = COMMON | KIND_KEYS[t.kind]
        for key in sorted(given - allowed):
            own = ", ".join(sorted(KIND_KEYS[t.kind])) or "none beyond the common ones"
            bad(key, f'not an option of kind "{t.kind}"; its own options: {own}')
        interval = t.interval if "interval" in given else p.DEFAULT_INTERVAL
        timeout = t.timeout if "timeout" in given else min(p.DEFAULT_MAX_TIMEOUT, interval / 2)
        if timeout >= interval:
            bad("timeout", f"must be shorter than interval ({interval:g} s)")
        if "flap_leave_threshold" in given and (
            t.flap_threshold is not None and t.flap_leave_threshold >= t.flap_threshold
        ):
            bad("flap_leave_threshold", f"must be below flap_threshold ({t.flap_threshold})")
        heal = _heal_of(t)
        kind_heals = KIND_HEALS.get(t.kind, ("none", "command", "hook"))
        if heal not in kind_heals:
            names = ", ".join(json.dumps(h) for h in kind_heals)
            bad("heal", f'kind "{t.kind}" cannot heal that way; use one of {names}')
        if heal == "command" and "heal_command" not in given:
            bad("heal", 'needs heal_command, the command to run (e.g. "systemctl restart x")')
        if heal == "hook" and "heal_hook" not in given:
            bad("heal", "needs heal_hook, the name of a heal registered from Python")
        for key, needs in (("heal_command", "command"), ("heal_hook", "hook")):
            if key in given and heal != needs:
                bad(key, f'only used with heal = "{needs}" (heal is "{heal}")')
        if t.restart_on_escalation and not all(t.restart_on_escalation.split("/")):
            bad("restart_on_escalation", 'must be a child path such as "tmux/watcher"')
        _kind_problems(t, given, bad)
    return problems


def _kind_problems(t: HealthCheckTable, given: set[str], bad: Any) -> None:
    if t.kind == "process" or (t.kind == "memory" and "max_rss" in given):
        chosen = sorted(given & _PROCESS)
        if len(chosen) != 1:
            key = chosen[1] if len(chosen) > 1 else "kind"
            bad(key, "give exactly one of pid_file, process_name or pattern")
    if t.kind == "memory" and given & _PROCESS and "max_rss" not in given:
        bad("kind", 'a process tree\'s memory needs max_rss (e.g. "2GiB")')
    if t.kind == "http":
        if "url" not in given:
            bad("kind", 'kind "http" needs url, e.g. "http://127.0.0.1:8080/health"')
        else:
            parsed = urllib.parse.urlsplit(t.url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                bad("url", "must be an http:// or https:// URL with a host")
    if t.kind == "tcp" and "port" not in given:
        bad("kind", 'kind "tcp" needs port (and host, default "127.0.0.1")')
    if t.kind == "command" and "command" not in given:
        bad("kind", 'kind "command" needs command, e.g. "pg_isready -q"')
    if "pattern" in given:
        try:
            re.compile(t.pattern)
        except re.error as exc:
            bad("pattern", f"not a regular expression: {exc}")


def _shown(value: object) -> str:
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, tuple | frozenset):
        return json.dumps(sorted(value) if isinstance(value, frozenset) else list(value))
    return json.dumps(value)


def _heal_of(t: HealthCheckTable) -> str:
    if "heal" in t.model_fields_set:
        return t.heal
    if "heal_command" in t.model_fields_set:
        return "command"
    if "heal_hook" in t.model_fields_set:
        return "hook"
    return KIND_HEALS.get(t.kind, ("none",))[0]


def build_health_checks(tables: list[HealthCheckTable]) -> tuple[HealthCheckConfig, ...]:
    """The validated models (call after :func:`check_health_checks` found nothing)."""
    out = []
    for t in tables:
        given = t.model_fields_set
        policy = p.CheckPolicy(**{k: getattr(t, k) for k in _POLICY_KEYS if k in given})
        options = tuple((k, getattr(t, k)) for k in sorted(given & KIND_KEYS[t.kind]))
        out.append(
            HealthCheckConfig(
                name=t.name,
                kind=t.kind,
                policy=policy,
                heal=_heal_of(t),
                heal_command=t.heal_command if "heal_command" in given else None,
                heal_hook=t.heal_hook if "heal_hook" in given else None,
                critical=t.critical,
                restart_on_escalation=t.restart_on_escalation or None,
                options=options,
            )
        )
    return tuple(out)
