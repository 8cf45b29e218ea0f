"""The schema of the file (strict pydantic models) and the loader that builds a :class:`Config`.

The tables mirror the TOML file with ``extra="forbid"``; each value goes through a validator of
:mod:`yesman_recovery.config.validators`, so a validated table already holds final types and
:func:`_build` only moves the keys the file set into the dataclasses of
:mod:`yesman_recovery.config.model`. Pydantic's errors are rewritten into lines of the form
``FILE: KEY.PATH = VALUE: what is wrong and what is allowed``.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from yesman_recovery.config import transactions_table
from yesman_recovery.config import validators as v
from yesman_recovery.config import yesman as yesman_table
from yesman_recovery.config.agents_table import AgentTable, agent_name
from yesman_recovery.config.health import (
    HealthCheckTable,
    build_health_checks,
    check_health_checks,
)
from yesman_recovery.config.model import (
    DEFAULT_FROZEN_GRACE,
    DEFAULT_PROGRAMS,
    Config,
    HealthzConfig,
    MetricsConfig,
    SessionConfig,
    StorageConfig,
    SupervisorConfig,
    TmuxConfig,
)
from yesman_recovery.config.resilience import BreakerTable, RetryTable
from yesman_recovery.errors import ConfigError
from yesman_recovery.storage.retention import RetentionPolicy
from yesman_recovery.supervisors.spec import Backoff, Restart, Strategy

__all__ = ["load_config", "parse_config"]

# --- the schema: mirrors the file; absent keys keep the dataclass defaults -----------------------

PositiveDuration = Annotated[float, v.checked(v.positive_duration)]
Count = Annotated[int, v.checked(v.count)]


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
    multiplier: Annotated[float, v.checked(v.multiplier)] = 2.0
    jitter: float = 0.2
    reset_after: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _check(self) -> _BackoffTable:
        self.build()  # Backoff's own checks (max >= initial, multiplier >= 1, jitter in [0, 1])
        return self

    def build(self) -> Backoff:
        return Backoff(**self.given())


class _IntensityTable(_Table):
    max_restarts: Count = 3
    max_seconds: PositiveDuration = 5.0


class _SupervisorTable(_Table):
    strategy: Annotated[Strategy, v.checked(v.choice(Strategy))] = Strategy.ONE_FOR_ONE
    max_restarts: Count = 3
    max_seconds: PositiveDuration = 5.0
    backoff: _BackoffTable | None = None
    tmux: _IntensityTable | None = None
    sessions: _IntensityTable | None = None


class _HealthzTable(_Table):
    sessions: Annotated[Literal["declared", "all", "none"], v.checked(v.healthz_sessions)] = (
        "declared"
    )
    server_grace: Annotated[float | None, v.checked(v.optional_grace)] = 30.0
    critical_checks: Annotated[bool, v.checked(v.boolean)] = True


class _MetricsTable(_Table):
    enabled: Annotated[bool, v.checked(v.boolean)] = True
    listen: Annotated[tuple[str, int], v.checked(v.listen)] = ("127.0.0.1", 9464)
    healthz: _HealthzTable | None = None


class _RetentionTable(_Table):
    keep_last: Annotated[int | None, v.checked(v.optional_keep_last)] = None
    max_age: Annotated[float | None, v.checked(v.optional_max_age)] = None
    max_bytes_per_scope: Annotated[int | None, v.checked(v.optional_size)] = None
    audit_max_age: Annotated[float | None, v.checked(v.optional_max_age)] = None
    audit_max_bytes: Annotated[int | None, v.checked(v.optional_size)] = None
    audit_keep_last: Count = 0


class _StorageTable(_Table):
    path: Annotated[Path, v.checked_with_info(v.path)] = Path()
    durability: Annotated[str, v.checked(v.durability)] = "durable"
    maintenance_interval: PositiveDuration = 60.0
    max_state_size: Annotated[int, v.checked(v.state_size)] = 64 * 1024 * 1024
    retention: _RetentionTable | None = None


class _TmuxTable(_Table):
    socket_name: Annotated[str, v.checked(v.word)] = ""
    socket_path: Annotated[Path, v.checked_with_info(v.path)] = Path()
    poll_interval: Annotated[float, v.checked(v.poll_interval)] = 1.0
    command_timeout: Annotated[float, v.checked(v.command_timeout)] = 2.0
    adopt: Annotated[tuple[str, ...], v.checked(v.adopt)] = ("*",)
    allow_kill_server: Annotated[bool, v.checked(v.boolean)] = False
    programs: Annotated[frozenset[str], v.checked(v.programs)] = DEFAULT_PROGRAMS
    restart: Annotated[tuple[tuple[str, str], ...], v.checked(v.restart_rules)] = ()
    frozen_grace: Annotated[float, v.checked(v.nonneg_duration)] = DEFAULT_FROZEN_GRACE
    program_max_restarts: Count = 3
    program_max_seconds: PositiveDuration = 60.0
    scrollback_interval: PositiveDuration = 30.0
    give_up_backoff: PositiveDuration = 60.0
    give_up_backoff_max: PositiveDuration = 3600.0
    give_up_reset: PositiveDuration = 600.0
    server_cgroup: Annotated[str, v.checked(v.server_cgroup)] = "auto"
    shell_integration: Annotated[bool, v.checked(v.boolean)] = True
    restore_after_kill: Annotated[bool, v.checked(v.boolean)] = False

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
    name: Annotated[str, v.checked(v.session_name)]
    spec: Annotated[Path, v.checked_with_info(v.spec_path)] = Path()
    restart: Annotated[Restart, v.checked(v.choice(Restart))] = Restart.PERMANENT
    programs: Annotated[frozenset[str], v.checked(v.programs)] = frozenset()
    scrollback: Annotated[int, v.checked(v.scrollback)] = 0
    frozen_grace: Annotated[float, v.checked(v.nonneg_duration)] = DEFAULT_FROZEN_GRACE


class _Document(_Table):
    supervisor: _SupervisorTable = _SupervisorTable()
    metrics: _MetricsTable = _MetricsTable()
    storage: _StorageTable = _StorageTable()
    tmux: _TmuxTable = _TmuxTable()
    sessions: list[_SessionTable] = []
    retry: dict[str, RetryTable] = {}
    breakers: dict[str, BreakerTable] = {}
    health_checks: list[HealthCheckTable] = []
    transactions: transactions_table.TransactionsTable = transactions_table.TransactionsTable()
    yesman: yesman_table.YesmanTable | None = None
    agents: dict[str, AgentTable] = {}


_TABLES: Mapping[tuple[str, ...], type[BaseModel]] = {
    (): _Document,
    ("supervisor",): _SupervisorTable,
    ("supervisor", "backoff"): _BackoffTable,
    ("supervisor", "tmux"): _IntensityTable,
    ("supervisor", "sessions"): _IntensityTable,
    ("metrics",): _MetricsTable,
    ("metrics", "healthz"): _HealthzTable,
    ("storage",): _StorageTable,
    ("storage", "retention"): _RetentionTable,
    ("tmux",): _TmuxTable,
    ("sessions", "*"): _SessionTable,
    ("retry", "*"): RetryTable,
    ("breakers", "*"): BreakerTable,
    ("health_checks", "*"): HealthCheckTable,
    ("agents", "*"): AgentTable,
    **transactions_table.TABLES,
    **yesman_table.TABLES,
}


def _build(doc: _Document, source: Path | None) -> Config:
    sup = doc.supervisor.given()
    if doc.supervisor.backoff is not None:
        sup["backoff"] = doc.supervisor.backoff.build()
    for inner in ("tmux", "sessions"):
        table = getattr(doc.supervisor, inner)
        if table is not None:
            default = getattr(SupervisorConfig(), inner)
            sup[inner] = replace(default, **table.given())
    metrics = doc.metrics.given()
    if "listen" in metrics:
        metrics["host"], metrics["port"] = metrics.pop("listen")
    if doc.metrics.healthz is not None:
        metrics["healthz"] = HealthzConfig(**doc.metrics.healthz.given())
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
        retry={name: table.build() for name, table in doc.retry.items()},
        breakers={name: table.build() for name, table in doc.breakers.items()},
        health_checks=build_health_checks(doc.health_checks),
        source=source,
        transactions=doc.transactions.build(),
        yesman=doc.yesman.build() if doc.yesman is not None else None,
        agents=tuple(table.build(name) for name, table in doc.agents.items()),
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
    _check_agent_names(where, doc.agents)
    if problems := check_health_checks(where, doc.health_checks):
        raise ConfigError("\n".join(problems))
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


def _check_agent_names(where: str, agents: Mapping[str, AgentTable]) -> None:
    from yesman_recovery.agents.registry import BUILTIN

    builtin = tuple(a.name for a in BUILTIN)
    problems = [
        f"{where}: [agents.{name}]: {problem}"
        for name in agents
        if (problem := agent_name(name, builtin)) is not None
    ]
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
        table = _TABLES.get(parent) or _TABLES.get((*parent[:-1], "*"))  # named tables too
        names = sorted(table.model_fields) if table else []
        section = f"[{_key_path(loc[:-1])}]" if parent else "the top level"
        close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        allowed = ", ".join(names) or "none"
        return f"{where}: {key}: unknown key{hint}; allowed keys in {section}: {allowed}"
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
