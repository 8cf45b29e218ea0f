"""TmuxClient against real isolated tmux servers, and the pure name/argument helpers."""

from __future__ import annotations

import os
import signal
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.errors import TmuxError, TmuxServerGone, TmuxTimeout
from yesman_recovery.tmux.client import (
    FIELD_SEP,
    RECORD_END,
    TmuxClient,
    escape_arg,
    format_of,
    parse_records,
    stored_session_name,
    unvis,
)

AWKWARD = [
    "a b", "q'uo\"te", "tab\there", "dot.colon:x", "dollar$x", "back\\slash", "héllo ☃", "h#sh",
]  # fmt: skip


@given(st.text())
def test_unvis_reverses_the_stored_session_name(name: str) -> None:
    expected = name.replace(".", "_").replace(":", "_")
    assert unvis(stored_session_name(name)) == expected


def test_parse_records_keeps_tabs_and_newlines_inside_fields() -> None:
    out = f"a\tb{FIELD_SEP}line1\nline2{RECORD_END}\nx{FIELD_SEP}y{RECORD_END}\nbad{RECORD_END}\n"
    assert parse_records(out, 2) == [["a\tb", "line1\nline2"], ["x", "y"]]
    assert format_of("#{a}", "#{b}") == f"#{{a}}{FIELD_SEP}#{{b}}{RECORD_END}"


def test_escape_arg_protects_a_trailing_semicolon() -> None:
    assert escape_arg("a;") == "a\\;"
    assert escape_arg("plain") == "plain"


def test_constructor_rejects_misuse() -> None:
    with pytest.raises(ValueError, match="socket_name"):
        TmuxClient(socket_name="a", socket_path="/tmp/b")
    with pytest.raises(ValueError, match="timeout"):
        TmuxClient(socket_name="a", timeout=0)
    assert TmuxClient(socket_path="/tmp/x").server_label == "-S /tmp/x"
    assert TmuxClient().server_label == "default"


def test_missing_binary_is_a_tmux_error() -> None:
    client = TmuxClient(socket_name="yr-none", tmux_bin="/nonexistent/tmux")
    with pytest.raises(TmuxError, match="not found"):
        client.run("list-sessions")


@pytest.mark.tmux
def test_no_server_is_server_gone(tmux_client: TmuxClient) -> None:
    with pytest.raises(TmuxServerGone, match="no tmux server"):
        tmux_client.run("list-sessions")
    assert tmux_client.server_pid() is None
    tmux_client.kill_server()  # nothing to kill: returns


@pytest.mark.tmux
def test_awkward_names_survive_a_round_trip(tmux_client: TmuxClient) -> None:
    tmux_client.run("new-session", "-d", "-s", "base")
    chain: list[tuple[str, ...]] = [
        ("new-session", "-d", "-s", n.replace("#", "##")) for n in AWKWARD
    ]
    chain += [("new-window", "-t", "=base", "-n", n.replace("#", "##")) for n in [*AWKWARD, "x;"]]
    before = tmux_client.invocations
    tmux_client.run_chain(chain)
    assert tmux_client.invocations == before + 1
    fmt = format_of("#{session_name}", "#{window_name}")
    rows = parse_records(tmux_client.run("list-windows", "-a", "-F", fmt), 2)
    sessions = {r[0] for r in rows}
    assert {stored_session_name(n) for n in AWKWARD} <= sessions
    assert {r[1] for r in rows if r[0] == "base"} >= {*AWKWARD, "x;"}
    for name in AWKWARD:
        tmux_client.run("has-session", "-t", "=" + stored_session_name(name))


@pytest.mark.tmux
def test_errors_carry_tmux_words(tmux_client: TmuxClient) -> None:
    tmux_client.run("new-session", "-d", "-s", "one")
    with pytest.raises(TmuxError, match="can't find session"):
        tmux_client.run("kill-session", "-t", "=nope")


@pytest.mark.tmux
def test_stopped_server_times_out_instead_of_hanging(tmux_client: TmuxClient) -> None:
    tmux_client.run("new-session", "-d", "-s", "frozen")
    pid = tmux_client.server_pid()
    assert pid is not None
    quick = TmuxClient(socket_name=tmux_client.socket_name, timeout=0.3)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TmuxTimeout, match=r"did not answer within 0\.3s"):
            quick.run("list-sessions")
        assert time.monotonic() - started < 3.0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert quick.run("list-sessions").startswith("frozen:")


@pytest.mark.tmux
def test_kill_server_waits_for_the_old_process(tmux_client: TmuxClient) -> None:
    for _ in range(3):
        tmux_client.run("new-session", "-d", "-s", "again")
        pid = tmux_client.server_pid()
        assert pid is not None
        tmux_client.kill_server()
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
        assert tmux_client.server_pid() is None


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"
