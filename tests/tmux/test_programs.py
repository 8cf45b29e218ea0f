"""Program identity, restart types and endings: the pure rules behind program restarts."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.tmux.programs import (
    Ending,
    ProgramRestart,
    RestartRule,
    comes_back,
    ending_of,
    identify,
    program_name,
    restart_type,
    typed_after,
)

P, T, TMP = ProgramRestart.PERMANENT, ProgramRestart.TRANSIENT, ProgramRestart.TEMPORARY


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["python3", "-m", "http.server", "18766"], "python3 -m http.server"),
        (["python3", "-mhttp.server"], "python3 -m http.server"),
        (["python3", "-X", "importtime", "app.py"], "app"),
        (["python3", "-Werror::DeprecationWarning", "tool.py"], "tool"),
        (["python3", "-c", "print(1)  # /usr/bin/vim"], "python3 -c"),
        (["/usr/bin/python3.11", "-uc", "x"], "python3.11 -c"),
        (["python3", "-"], "python3 -"),
        (["python3"], "python3"),
        (["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "-r"], "claude"),
        (["node", "-r", "ts-node/register", "server.ts"], "server"),
        (["node", "-e", "require('x')"], "node -e"),
        (["npx", "-y", "prettier", "--write", "."], "npx prettier"),
        (["npx", "-p", "typescript", "tsc"], "npx tsc"),
        (["uv", "run", "pytest", "-x"], "uv run pytest"),
        (["npm", "run", "dev"], "npm run dev"),
        (["cargo", "run", "--release"], "cargo run"),
        (["make", "deploy"], "make"),
        (["-bash"], "bash"),
        (["bash", "-l"], "bash"),
        (["bash", "deploy.sh"], "deploy"),
        (["/opt/my tools/agent"], "agent"),
        (["vim", "notes.md"], "vim"),
        ([], ""),
    ],
)
def test_programs_are_named_by_what_they_run(argv: list[str], name: str) -> None:
    assert program_name(argv) == name


def test_the_command_line_is_the_basename_and_the_arguments() -> None:
    assert identify(["/usr/bin/make", "deploy", "ENV=prod"]).command_line == "make deploy ENV=prod"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["claude", "--resume", "x"], T),
        (["node", "/x/claude-code/cli.js"], T),
        (["vim", "a.txt"], T),
        (["less", "log"], T),
        (["tail", "-f", "log"], T),
        (["htop"], T),
        (["make", "deploy"], TMP),
        (["npm", "publish"], TMP),
        (["python3", "-m", "http.server"], TMP),
        (["python3", "-c", "#/vim"], TMP),
        (["watch", "-n", "5", "curl -X POST x"], TMP),
        (["cargo", "build"], TMP),
        (["some-tool-nobody-knows"], TMP),
    ],
)
def test_defaults_bring_back_agents_editors_pagers_monitors_only(
    argv: list[str], expected: ProgramRestart
) -> None:
    assert restart_type(argv) is expected


def test_rules_match_the_name_or_the_whole_command_line_first_match_wins() -> None:
    rules = [
        RestartRule("python3 -m http.server*", P),
        RestartRule("make deploy*", TMP),
        RestartRule("make*", T),
        RestartRule("claude", P),
    ]
    assert restart_type(["python3", "-m", "http.server", "18766"], rules) is P
    assert restart_type(["make", "deploy", "ENV=prod"], rules) is TMP
    assert restart_type(["make", "watch"], rules) is T
    assert restart_type(["node", "/x/claude-code/cli.js", "--resume", "id"], rules) is P
    assert restart_type(["vim"], rules) is TMP  # rules replace what they are given
    assert restart_type(["vim"], rules, default=T) is T


@pytest.mark.parametrize(
    ("status", "sig", "ending"),
    [
        (0, None, Ending.EXITED),
        (2, None, Ending.FAILED),
        (None, int(signal.SIGINT), Ending.INTERRUPTED),
        (None, int(signal.SIGQUIT), Ending.INTERRUPTED),
        (130, None, Ending.INTERRUPTED),  # a shell's 128 + SIGINT
        (None, int(signal.SIGKILL), Ending.KILLED),
        (137, None, Ending.KILLED),
        (None, int(signal.SIGTERM), Ending.KILLED),
        (None, None, Ending.UNKNOWN),
    ],
)
def test_endings(status: int | None, sig: int | None, ending: Ending) -> None:
    assert ending_of(status, sig) is ending


def test_the_users_own_end_is_never_undone_whatever_the_type() -> None:
    for restart in ProgramRestart:
        assert not comes_back(restart, Ending.EXITED)
        assert not comes_back(restart, Ending.INTERRUPTED)


def test_restart_types_as_otp() -> None:
    assert [comes_back(P, e) for e in (Ending.LOST, Ending.KILLED, Ending.FAILED)] == [True] * 3
    assert comes_back(P, Ending.UNKNOWN)
    assert [comes_back(T, e) for e in (Ending.LOST, Ending.KILLED, Ending.FAILED)] == [True] * 3
    assert not comes_back(T, Ending.UNKNOWN)
    assert not any(comes_back(TMP, e) for e in Ending)
    assert typed_after(TMP, Ending.LOST)
    assert not typed_after(TMP, Ending.KILLED)
    assert not typed_after(T, Ending.LOST)


@given(st.lists(st.text(max_size=12), max_size=6))
def test_any_argv_has_a_name_and_a_type(argv: list[str]) -> None:
    program = identify(argv)
    assert isinstance(program.name, str)
    assert restart_type(argv) in set(ProgramRestart)
