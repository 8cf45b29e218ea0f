"""The configuration: defaults, the example file, units, and every kind of bad file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.config import (
    DEFAULT_PROGRAMS,
    Config,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
)
from yesman_recovery.errors import ConfigError
from yesman_recovery.storage.retention import RetentionPolicy
from yesman_recovery.supervisors.spec import Backoff, Restart, Strategy

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "yesman-recovery.toml"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, "every error names the file"
    return message


# --- defaults and the example ------------------------------------------------------------------


def test_no_file_gives_the_built_in_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = load_config(None)
    assert config == Config.default()
    assert config.source is None
    assert config.supervisor.strategy is Strategy.ONE_FOR_ONE
    assert (config.supervisor.max_restarts, config.supervisor.max_seconds) == (3, 5.0)
    assert config.supervisor.backoff is None
    assert (config.metrics.host, config.metrics.port, config.metrics.enabled) == (
        "127.0.0.1",
        9464,
        True,
    )
    assert config.storage.path == tmp_path / "state" / "yesman-recovery"
    assert config.storage.retention == RetentionPolicy()
    assert config.tmux.adopts("anything at all")
    assert config.tmux.socket_name is None
    assert config.tmux.socket_path is None
    assert config.sessions == ()


def test_state_dir_defaults_to_local_state_without_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Config.default().storage.path == tmp_path / ".local/state/yesman-recovery"


def test_an_empty_file_gives_the_defaults_and_records_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    config = load_config(path)
    assert config.source == path
    assert dataclasses.replace(config, source=None) == Config.default()


def test_the_example_file_loads_into_typed_values() -> None:
    config = load_config(EXAMPLE)
    assert config.supervisor.backoff == Backoff(0.1, 30.0, 2.0, 0.2, 60.0)
    assert config.storage.retention == RetentionPolicy(1000, 7 * 86400.0, 100 * 1024**2)
    assert config.storage.durability == "durable"
    assert config.storage.maintenance_interval == 60.0
    assert config.tmux.programs == DEFAULT_PROGRAMS
    assert [(s.name, s.restart, s.scrollback) for s in config.sessions] == [
        ("agent-1", Restart.PERMANENT, 0),
        ("agent-2", Restart.TRANSIENT, 5000),
    ]
    assert config.session("agent-1") is not None
    assert config.session("agent-1").programs == frozenset({"pytest"})  # type: ignore[union-attr]
    assert config.session("missing") is None


def test_every_section_is_converted_to_its_final_type(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text("session_name: a\nwindows: []\n")
    config = load_config(
        write(
            tmp_path,
            """
            [supervisor]
            strategy = "rest_for_one"
            max_restarts = 0
            max_seconds = 2
            [supervisor.backoff]
            initial = "250ms"
            max = "1m"
            multiplier = 3
            [metrics]
            enabled = false
            listen = "[::1]:0"
            [storage]
            path = "state"
            durability = "fast"
            maintenance_interval = "1h30m"
            [storage.retention]
            keep_last = false
            max_age = false
            max_bytes_per_scope = "1GB"
            [tmux]
            socket_name = "agents"
            poll_interval = "250ms"
            command_timeout = 1.5
            adopt = ["agent-*", "dev"]
            allow_kill_server = true
            programs = ["claude"]
            frozen_grace = "0s"
            program_max_restarts = 5
            program_max_seconds = "2m"
            [[sessions]]
            name = "a"
            spec = "specs/a.yaml"
            restart = "temporary"
            scrollback = true
            frozen_grace = "10s"
            """,
        )
    )
    assert config.supervisor.strategy is Strategy.REST_FOR_ONE
    assert config.supervisor.max_restarts == 0
    assert config.supervisor.max_seconds == 2.0
    assert config.supervisor.backoff == Backoff(initial=0.25, max=60.0, multiplier=3.0)
    assert (config.metrics.enabled, config.metrics.host, config.metrics.port) == (False, "::1", 0)
    assert config.metrics.url == "http://[::1]:0"
    assert config.storage.path == tmp_path / "state"
    assert config.storage.durability == "fast"
    assert config.storage.maintenance_interval == 5400.0
    assert config.storage.retention == RetentionPolicy(None, None, 10**9)
    tmux = config.tmux
    assert (tmux.socket_name, tmux.poll_interval, tmux.command_timeout) == ("agents", 0.25, 1.5)
    assert tmux.adopts("agent-7")
    assert tmux.adopts("dev")
    assert not tmux.adopts("development")
    assert tmux.allow_kill_server is True
    assert tmux.programs == frozenset({"claude"})
    assert (tmux.frozen_grace, tmux.program_max_restarts, tmux.program_max_seconds) == (
        0.0,
        5,
        120.0,
    )
    (session,) = config.sessions
    assert session.spec == tmp_path / "specs" / "a.yaml"
    assert session.restart is Restart.TEMPORARY
    assert session.scrollback == 2000
    assert session.frozen_grace == 10.0


def test_adopt_none_watches_only_declared_sessions() -> None:
    config = parse_config({"tmux": {"adopt": "none"}, "sessions": [{"name": "x"}]})
    assert not config.tmux.adopts("x")
    assert config.session("x") is not None


def test_socket_path_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse_config({"tmux": {"socket_path": "~/tmux.sock"}})
    assert config.tmux.socket_path == tmp_path / "tmux.sock"


def test_the_configuration_is_frozen() -> None:
    config = Config.default()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.supervisor.max_restarts = 10  # type: ignore[misc]


# --- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1m 30s", 90.0),
        ("1.5s", 1.5),
        (" 0s ", 0.0),
        ("10MS", 0.01),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "5 minutes", "-5s", "1.2.3s", "s", "5x", "1h-30m"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100MiB", 100 * 1024**2),
        ("1GB", 10**9),
        ("512 KiB", 512 * 1024),
        ("4096", 4096),
        ("10b", 10),
        ("2k", 2048),
        ("1.5KiB", 1536),
        ("1tb", 10**12),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "-1MiB", "10 parsecs", "1.2.3MB"])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@given(st.integers(0, 10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_parse_duration_scales_by_its_unit(n: int, unit: str) -> None:
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{n}{unit}") == pytest.approx(n * factor)


# --- bad files: every error names the file, the key path, the value and what is allowed ------


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[supervisor]\nstrategy = one_for_one\n")
    assert "TOML syntax error" in message
    assert "line 2" in message


def test_an_unknown_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[supervisor]\nstrategey = "one_for_all"\n')
    assert "supervisor.strategey: unknown key (did you mean strategy?); allowed keys" in message
    assert "backoff, max_restarts, max_seconds, sessions, strategy, tmux" in message


def test_an_unknown_section_lists_the_sections(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[health]\ninterval = 1\n")
    assert "health: unknown key; allowed keys in the top level:" in message
    assert "breakers, health_checks, metrics, retry, sessions, storage, supervisor, tmux" in message


def test_an_unknown_key_in_a_session_names_its_index(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[sessions]]\nname = "a"\n[[sessions]]\nname = "b"\ncmd = 1\n')
    assert "sessions[1].cmd: unknown key; allowed keys in [sessions[1]]:" in message  # no guess


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[supervisor]\nmax_restarts = -1",
            "supervisor.max_restarts = -1: must be an integer from 0 to 10000",
        ),
        ('[supervisor]\nmax_restarts = "3"', 'supervisor.max_restarts = "3": must be an integer'),
        ("[supervisor]\nmax_restarts = true", "supervisor.max_restarts = true: must be an integer"),
        (
            '[supervisor]\nmax_seconds = "-5s"',
            'max_seconds = "-5s": must not be negative; use a duration',
        ),
        ('[supervisor]\nmax_seconds = "0s"', 'supervisor.max_seconds = "0s": must be > 0'),
        ("[supervisor]\nmax_seconds = true", "supervisor.max_seconds = true: expected a duration"),
        ('[supervisor]\nstrategy = "all"', '"one_for_one", "one_for_all", "rest_for_one"'),
        ("[supervisor]\nbackoff = 3", "supervisor.backoff = 3: must be a table"),
        (
            '[supervisor.backoff]\ninitial = "2s"\nmax = "1s"',
            'supervisor.backoff = {initial = "2s", max = "1s"}: `max` (1.0) must be at least',
        ),
        ("[supervisor.backoff]\njitter = 2", "`jitter` must be between 0 and 1"),
        ('[supervisor.backoff]\nmultiplier = "x"', 'multiplier = "x": must be a number'),
        ("supervisor = 1", "supervisor = 1: must be a table"),
        ('[metrics]\nlisten = "9464"', 'metrics.listen = "9464": must be "host:port"'),
        ('[metrics]\nlisten = "localhost:70000"', "port from 0 to 65535"),
        ("[metrics]\nlisten = 9464", 'metrics.listen = 9464: must be "host:port"'),
        ('[metrics]\nenabled = "yes"', 'metrics.enabled = "yes": must be true or false'),
        ('[storage]\ndurability = "safe"', 'storage.durability = "safe": must be "durable"'),
        ('[storage]\npath = ""', 'storage.path = "": must be a non-empty path'),
        (
            "[storage.retention]\nkeep_last = 0",
            "keep_last = 0: must be an integer from 1 to 10000000, or false",
        ),
        (
            "[storage.retention]\nkeep_last = true",
            "must be an integer from 1 to 10000000, or false",
        ),
        ('[storage.retention]\nmax_age = "0s"', "must be > 0"),
        ("[storage.retention]\nmax_age = true", "or false for no limit"),
        ('[storage.retention]\nmax_bytes_per_scope = "lots"', '"lots": expected a size'),
        ('[storage.retention]\nmax_bytes_per_scope = "0B"', "must be > 0"),
        ("[storage.retention]\nmax_bytes_per_scope = 1.5", "expected a size"),
        ('[tmux]\nadopt = "some"', 'tmux.adopt = "some": must be "all", "none" or an array'),
        ("[tmux]\nadopt = []", "tmux.adopt = []: must be"),
        ('[tmux]\nprograms = "claude"', 'tmux.programs = "claude": must be an array'),
        ('[tmux]\nprograms = ["my editor"]', "without spaces"),
        ('[tmux]\nsocket_name = "a/b"', 'tmux.socket_name = "a/b": must be a non-empty string'),
        (
            '[tmux]\nsocket_name = "a"\nsocket_path = "/tmp/a"',
            "socket_name and socket_path are exclusive",
        ),
        ('[tmux]\nfrozen_grace = "-1s"', "tmux.frozen_grace"),
        ("sessions = 1", "sessions = 1: must be an array of tables"),
        ('[[sessions]]\nrestart = "always"', "sessions[0].name: required key is missing"),
        ('[[sessions]]\nname = "a"\nrestart = "always"', '"permanent", "transient", "temporary"'),
        ('[[sessions]]\nname = "a.b"', "must not contain '.' or ':'"),
        ('[[sessions]]\nname = " "', 'sessions[0].name = " ": must be a non-empty string'),
        ('[[sessions]]\nname = "a"\nscrollback = -1', "must be false, true or a number of lines"),
        ('[[sessions]]\nname = "a"\nspec = "missing.yaml"', 'sessions[0].spec = "missing.yaml"'),
    ],
)
def test_a_bad_value_names_key_value_and_what_is_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in error_of(tmp_path, text)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[supervisor]\nmax_restarts = -1\n[metrics]\nlisten = "x"\n')
    lines = message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path / 'config.toml'}: supervisor.max_restarts")
    assert lines[1].startswith(f"{tmp_path / 'config.toml'}: metrics.listen")


def test_duplicate_session_names_name_both_entries(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, '[[sessions]]\nname = "a"\n[[sessions]]\nname = "b"\n[[sessions]]\nname = "a"\n'
    )
    assert 'sessions[2].name = "a": duplicate of sessions[0].name' in message


def test_a_relative_spec_resolves_against_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "s.yaml").write_text("session_name: s\n")
    path = write(tmp_path / "conf", '[[sessions]]\nname = "s"\nspec = "s.yaml"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(path).sessions[0].spec == tmp_path / "conf" / "s.yaml"


def test_a_missing_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read.*--config"):
        load_config(tmp_path / "missing.toml")


def test_a_directory_is_not_a_configuration_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[sessions]]\nname = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml: not UTF-8"):
        load_config(path)


def test_parse_config_without_a_source_names_the_document(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"<config>: supervisor\.max_restarts"):
        parse_config({"supervisor": {"max_restarts": -1}})


def test_inner_supervisors_have_their_own_restart_limits(tmp_path: Path) -> None:
    default = load_config(None).supervisor
    assert (default.tmux.max_restarts, default.tmux.max_seconds) == (3, 5.0)
    assert (default.sessions.max_restarts, default.sessions.max_seconds) == (10, 5.0)
    config = load_config(
        write(
            tmp_path,
            "[supervisor]\nmax_restarts = 1\n[supervisor.tmux]\nmax_restarts = 6\n"
            '[supervisor.sessions]\nmax_seconds = "1m"\n',
        )
    )
    assert config.supervisor.max_restarts == 1
    assert (config.supervisor.tmux.max_restarts, config.supervisor.tmux.max_seconds) == (6, 5.0)
    assert config.supervisor.sessions.max_restarts == 10
    assert config.supervisor.sessions.max_seconds == 60.0


def test_inner_supervisor_tables_are_checked_like_the_others(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[supervisor.tmux]\nmax_restart = 3\n")
    assert "supervisor.tmux.max_restart: unknown key (did you mean max_restarts?); allowed keys " \
           "in [supervisor.tmux]: max_restarts, max_seconds" in message  # fmt: skip
    message = error_of(tmp_path, "[supervisor.sessions]\nmax_restarts = -2\n")
    assert "supervisor.sessions.max_restarts = -2: must be an integer from 0 to 10000" in message
