"""The configuration: one TOML file validated into frozen, typed objects before anything starts.

Two layers. The *schema* (private pydantic models, ``extra="forbid"``, strict) mirrors the file:
each value is checked by a validator that already returns the final type (seconds as ``float``,
bytes as ``int``, :class:`Strategy`, :class:`Path` resolved against the file's directory). The
*configuration* (public frozen dataclasses below) is what the application consumes; it holds the
defaults, so a key absent from the file keeps its dataclass default.

Every problem becomes one :class:`ConfigError` whose lines each read
``FILE: KEY.PATH = VALUE: what is wrong and what is allowed``. TOML has no null, so limits that
can be switched off take ``false`` (``max_age = false``).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator
from pydantic.functional_validators import PlainValidator
from pydantic_core import PydanticCustomError

from yesman_recovery.errors import ConfigError
from yesman_recovery.storage.retention import RetentionPolicy
from yesman_recovery.supervisors.spec import Backoff, Restart, Strategy

__all__ = [
    "DEFAULT_PROGRAMS",
    "Config",
    "MetricsConfig",
    "SessionConfig",
    "StorageConfig",
    "SupervisorConfig",
    "TmuxConfig",
    "default_state_dir",
    "load_config",
    "parse_duration",
    "parse_size",
]

DEFAULT_PROGRAMS: frozenset[str] = frozenset(
    {
        # AI coding agents
        "claude", "codex", "aider", "gemini", "goose", "opencode", "cursor-agent", "amp", "qwen",
        # editors and pagers
        "vi", "vim", "nvim", "emacs", "nano", "hx", "helix", "micro", "less", "more", "man",
        # watching things
        "tail", "top", "htop", "btop", "watch", "journalctl",
        # dev servers and runtimes
        "npm", "npx", "pnpm", "yarn", "bun", "deno", "node", "python", "python3", "ipython",
        "uv", "cargo", "go", "make", "just",
    }
)  # fmt: skip
"""Programs restarted by default: agents, editors, pagers, monitors and dev servers. Shells are
deliberately absent: a pane back at its shell is a program that exited, not one to re-run."""

SCROLLBACK_TRUE_LINES = 2000
"""Lines kept when a session says ``scrollback = true``: tmux's default ``history-limit``."""

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)
_DURATION_HINT = 'a duration such as "250ms", "30s", "5m", "2h", "7d" or "1h30m"'
_SIZE_HINT = 'a size such as "512KiB", "100MiB", "1GB" or a number of bytes'


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
        raise ValueError(f"{text!r} is not {_DURATION_HINT}")
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
        raise ValueError(f"{text!r} is not {_SIZE_HINT}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/yesman-recovery``, else ``~/.local/state/yesman-recovery``."""
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "yesman-recovery"


# --- the configuration the application consumes -----------------------------------------------


@dataclass(frozen=True)
class SupervisorConfig:
    """``[supervisor]``: the root supervisor's strategy, restart intensity and backoff."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = 3
    max_seconds: float = 5.0
    backoff: Backoff | None = None


@dataclass(frozen=True)
class MetricsConfig:
    """``[metrics]``: where ``/metrics``, ``/healthz`` and ``/status`` are served; port 0 = any."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464

    @property
    def url(self) -> str:
        """The base URL of the endpoint, e.g. ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: the state directory, durability, maintenance period and retention."""

    path: Path = field(default_factory=default_state_dir)
    durability: Literal["durable", "fast"] = "durable"
    maintenance_interval: float = 60.0
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)


@dataclass(frozen=True)
class TmuxConfig:
    """``[tmux]``: which server to watch, how often, which sessions to adopt, what to restart.

    ``socket_name`` (``tmux -L``) and ``socket_path`` (``tmux -S``) are exclusive; neither means
    the default server. ``adopt`` holds fnmatch patterns of undeclared sessions to watch:
    ``("*",)`` for all, ``()`` for none.
    """

    socket_name: str | None = None
    socket_path: Path | None = None
    poll_interval: float = 1.0
    command_timeout: float = 2.0
    adopt: tuple[str, ...] = ("*",)
    allow_kill_server: bool = False
    programs: frozenset[str] = DEFAULT_PROGRAMS
    frozen_grace: float = 2.0
    program_max_restarts: int = 3
    program_max_seconds: float = 60.0

    def adopts(self, session_name: str) -> bool:
        """Whether an undeclared session with this name is watched."""
        return any(fnmatch.fnmatchcase(session_name, p) for p in self.adopt)


@dataclass(frozen=True)
class SessionConfig:
    """One ``[[sessions]]`` entry: a session declared by name, optionally by a tmuxp spec.

    ``programs`` extends ``[tmux] programs`` for this session; ``scrollback`` is the number of
    lines saved with each checkpoint (0 = none); ``frozen_grace`` of None uses ``[tmux]``'s.
    """

    name: str
    spec: Path | None = None
    restart: Restart = Restart.PERMANENT
    programs: frozenset[str] = frozenset()
    scrollback: int = 0
    frozen_grace: float | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; ``source`` is the file it came from, or None."""

    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    tmux: TmuxConfig = field(default_factory=TmuxConfig)
    sessions: tuple[SessionConfig, ...] = ()
    source: Path | None = None

    @classmethod
    def default(cls) -> Config:
        """The built-in defaults: adopt every session on the default tmux server."""
        return cls()

    def session(self, name: str) -> SessionConfig | None:
        """The declared session with this name, if any."""
        return next((s for s in self.sessions if s.name == name), None)


# --- value validators: each returns the final type or raises ValueError -------------------------


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
            raise _unit_problem(value, _DURATION_HINT) from None
    elif _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    else:
        raise ValueError(f"expected {_DURATION_HINT}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be >= 0; use {_DURATION_HINT}")
    if positive and seconds == 0:
        raise ValueError(f"must be > 0; use {_DURATION_HINT}")
    return seconds


def _positive_duration(value: object) -> float:
    return _duration(value, positive=True)


def _nonneg_duration(value: object) -> float:
    return _duration(value, positive=False)


def _optional_max_age(value: object) -> float | None:
    if value is False:
        return None
    try:
        return _duration(value, positive=True)
    except ValueError as exc:
        raise ValueError(f"{exc}, or false for no limit") from None


def _optional_size(value: object) -> int | None:
    if value is False:
        return None
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError:
            raise _unit_problem(value, f"{_SIZE_HINT}, or false for no limit") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        raise ValueError(f"expected {_SIZE_HINT}, or false for no limit")
    if size <= 0:
        raise ValueError(f"must be > 0; use {_SIZE_HINT}, or false for no limit")
    return size


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError("must be an integer >= 0")


def _optional_keep_last(value: object) -> int | None:
    if value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError("must be an integer >= 1, or false for no limit")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false")


def _word(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c == "/" for c in value):
        return value
    raise ValueError("must be a non-empty string without spaces or '/'")


def _programs(value: object) -> frozenset[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(_word(v) for v in value)
    raise ValueError('must be an array of program names, e.g. ["claude", "vim"]')


def _adopt(value: object) -> tuple[str, ...]:
    if value == "all":
        return ("*",)
    if value == "none":
        return ()
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError('must be "all", "none" or an array of fnmatch patterns, e.g. ["agent-*"]')


def _scrollback(value: object) -> int:
    if isinstance(value, bool):
        return SCROLLBACK_TRUE_LINES if value else 0
    if isinstance(value, int) and value >= 0:
        return value
    raise ValueError("must be false, true or a number of lines >= 0")


def _session_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if "." in value or ":" in value:
        raise ValueError("must not contain '.' or ':' (tmux replaces them with '_')")
    return value


def _listen(value: object) -> tuple[str, int]:
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


def _choice(enum_type: type[Strategy] | type[Restart]) -> Callable[[object], Any]:
    names = ", ".join(json.dumps(m.value) for m in enum_type)

    def validate(value: object) -> Any:
        if isinstance(value, str) and value in {m.value for m in enum_type}:
            return enum_type(value)
        raise ValueError(f"must be one of {names}")

    return validate


def _durability(value: object) -> str:
    if value in ("durable", "fast"):
        return str(value)
    raise ValueError('must be "durable" (fsync every commit) or "fast" (no fsync)')


def _path(value: object, info: ValidationInfo) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty path string")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base")
    return base / path if base is not None and not path.is_absolute() else path


def _spec_path(value: object, info: ValidationInfo) -> Path:
    path = _path(value, info)
    if not path.is_file():
        raise ValueError(f"no such file: {path}; give a tmuxp YAML file (relative to the config)")
    return path


def _v(fn: Callable[[object], Any]) -> PlainValidator:
    """Wrap a validator so its ValueError message becomes the whole pydantic error message."""
    return _vi(lambda value, _info: fn(value))


def _vi(fn: Callable[[object, ValidationInfo], Any]) -> PlainValidator:
    """Like :func:`_v` for validators that need the validation context (the config's folder)."""

    def validate(value: object, info: ValidationInfo) -> Any:
        try:
            return fn(value, info)
        except ValueError as exc:
            raise PydanticCustomError("config", "{problem}", {"problem": str(exc)}) from None

    return PlainValidator(validate)


# --- the schema: mirrors the file; absent keys keep the dataclass defaults -----------------------

PositiveDuration = Annotated[float, _v(_positive_duration)]
Count = Annotated[int, _v(_count)]


class _Table(BaseModel):
    # Defaults below only make keys optional: build() passes on the keys the file set, so the
    # dataclasses above hold the one set of defaults.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def given(self) -> dict[str, Any]:
        """The keys the file set, with their validated values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class _BackoffTable(_Table):
    initial: PositiveDuration = 0.1
    max: PositiveDuration = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    reset_after: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _check(self) -> _BackoffTable:
        self.build()  # Backoff's own checks (max >= initial, multiplier >= 1, jitter in [0, 1])
        return self

    def build(self) -> Backoff:
        return Backoff(**self.given())


class _SupervisorTable(_Table):
    strategy: Annotated[Strategy, _v(_choice(Strategy))] = Strategy.ONE_FOR_ONE
    max_restarts: Count = 3
    max_seconds: PositiveDuration = 5.0
    backoff: _BackoffTable | None = None


class _MetricsTable(_Table):
    enabled: Annotated[bool, _v(_boolean)] = True
    listen: Annotated[tuple[str, int], _v(_listen)] = ("127.0.0.1", 9464)


class _RetentionTable(_Table):
    keep_last: Annotated[int | None, _v(_optional_keep_last)] = None
    max_age: Annotated[float | None, _v(_optional_max_age)] = None
    max_bytes_per_scope: Annotated[int | None, _v(_optional_size)] = None


class _StorageTable(_Table):
    path: Annotated[Path, _vi(_path)] = Path()
    durability: Annotated[str, _v(_durability)] = "durable"
    maintenance_interval: PositiveDuration = 60.0
    retention: _RetentionTable | None = None


class _TmuxTable(_Table):
    socket_name: Annotated[str, _v(_word)] = ""
    socket_path: Annotated[Path, _vi(_path)] = Path()
    poll_interval: PositiveDuration = 1.0
    command_timeout: PositiveDuration = 2.0
    adopt: Annotated[tuple[str, ...], _v(_adopt)] = ("*",)
    allow_kill_server: Annotated[bool, _v(_boolean)] = False
    programs: Annotated[frozenset[str], _v(_programs)] = DEFAULT_PROGRAMS
    frozen_grace: Annotated[float, _v(_nonneg_duration)] = 2.0
    program_max_restarts: Count = 3
    program_max_seconds: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _one_socket(self) -> _TmuxTable:
        if {"socket_name", "socket_path"} <= self.model_fields_set:
            raise PydanticCustomError(
                "config",
                "socket_name and socket_path are exclusive; set one (or neither, for the "
                "default server)",
            )
        return self


class _SessionTable(_Table):
    name: Annotated[str, _v(_session_name)]
    spec: Annotated[Path, _vi(_spec_path)] = Path()
    restart: Annotated[Restart, _v(_choice(Restart))] = Restart.PERMANENT
    programs: Annotated[frozenset[str], _v(_programs)] = frozenset()
    scrollback: Annotated[int, _v(_scrollback)] = 0
    frozen_grace: Annotated[float, _v(_nonneg_duration)] = 2.0


class _Document(_Table):
    supervisor: _SupervisorTable = _SupervisorTable()
    metrics: _MetricsTable = _MetricsTable()
    storage: _StorageTable = _StorageTable()
    tmux: _TmuxTable = _TmuxTable()
    sessions: list[_SessionTable] = []


_TABLES: Mapping[tuple[str, ...], type[_Table]] = {
    (): _Document,
    ("supervisor",): _SupervisorTable,
    ("supervisor", "backoff"): _BackoffTable,
    ("metrics",): _MetricsTable,
    ("storage",): _StorageTable,
    ("storage", "retention"): _RetentionTable,
    ("tmux",): _TmuxTable,
    ("sessions", "*"): _SessionTable,
}


def _build(doc: _Document, source: Path | None) -> Config:
    sup = doc.supervisor.given()
    if doc.supervisor.backoff is not None:
        sup["backoff"] = doc.supervisor.backoff.build()
    metrics = doc.metrics.given()
    if "listen" in metrics:
        metrics["host"], metrics["port"] = metrics.pop("listen")
    storage = doc.storage.given()
    if doc.storage.retention is not None:
        storage["retention"] = RetentionPolicy(**doc.storage.retention.given())
    sessions = tuple(SessionConfig(**s.given()) for s in doc.sessions)
    return Config(
        supervisor=SupervisorConfig(**sup),
        metrics=MetricsConfig(**metrics),
        storage=StorageConfig(**storage),
        tmux=TmuxConfig(**doc.tmux.given()),
        sessions=sessions,
        source=source,
    )


# --- loading and error messages ------------------------------------------------------------------


def load_config(path: Path | str | None) -> Config:
    """Read and validate a TOML configuration file; None gives :meth:`Config.default`.

    Raises :class:`ConfigError` listing every problem, one per line, each naming the file, the
    key path, the value and what is allowed.
    """
    if path is None:
        return Config.default()
    source = Path(path).expanduser()
    try:
        with source.open("rb") as fp:
            data = tomllib.load(fp)
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read the configuration file: {exc.strerror or exc}; "
            "give an existing TOML file with --config or YESMAN_RECOVERY_CONFIG"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML syntax error: {exc}") from None
    return parse_config(data, source=source.absolute())


def parse_config(data: Mapping[str, Any], *, source: Path | None = None) -> Config:
    """Validate an already parsed TOML document; relative paths resolve against ``source``'s
    folder (the current directory when None)."""
    where = str(source) if source is not None else "<config>"
    base = source.parent if source is not None else None
    try:
        doc = _Document.model_validate(dict(data), context={"base": base})
    except ValidationError as exc:
        lines = [_describe(where, err) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    _check_unique_names(where, doc.sessions)
    return _build(doc, source)


def _check_unique_names(where: str, sessions: list[_SessionTable]) -> None:
    first: dict[str, int] = {}
    problems = []
    for index, session in enumerate(sessions):
        if session.name in first:
            problems.append(
                f"{where}: sessions[{index}].name = {json.dumps(session.name)}: duplicate of "
                f"sessions[{first[session.name]}].name; each session name must be unique"
            )
        else:
            first[session.name] = index
    if problems:
        raise ConfigError("\n".join(problems))


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _describe(where: str, err: Any) -> str:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    key = _key_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = tuple("*" if isinstance(p, int) else p for p in loc[:-1])
        table = _TABLES.get(parent)
        allowed = ", ".join(sorted(table.model_fields)) if table else "none"
        section = f"[{_key_path(loc[:-1])}]" if parent else "the top level"
        return f"{where}: {key}: unknown key; allowed keys in {section}: {allowed}"
    if kind == "missing":
        return f"{where}: {key}: required key is missing"
    problem = err["msg"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        problem = "must be a table"
    elif kind == "list_type":
        problem = "must be an array of tables ([[...]])"
    elif kind in ("float_type", "int_type"):
        problem = "must be a number"
    elif kind == "value_error":
        problem = str(err.get("ctx", {}).get("error", problem))
    return f"{where}: {key} = {_render(err['input'])}: {problem}"
