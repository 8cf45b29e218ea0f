"""A property, with real tmux: agents of mixed kinds in one directory, any order of starts,
``/clear``s, exits and server crashes → no two panes ever on one conversation, and after a
crash every bound pane back on its own. Few examples: each one starts real processes."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agents.world import bindings, make_world, screen, session, start_panes, type_line
from tests.conftest import kill_tmux_server
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.restore import restore_session

pytestmark = pytest.mark.tmux
KINDS = ("claude", "codex", "gemini")
actions = st.lists(
    st.one_of(
        st.tuples(st.just("clear"), st.integers(0, 2)),
        st.tuples(st.just("exit"), st.integers(0, 2)),
        st.tuples(st.just("crash"), st.just(0)),
    ),
    min_size=1,
    max_size=3,
)


def _settled(client: TmuxClient, name: str) -> dict[int, tuple[str, str, str]]:
    """The bindings once two looks 0.2 s apart agree."""
    last: dict[int, tuple[str, str, str]] | None = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = bindings(client, name)
        if now == last:
            return now
        last = now
        time.sleep(0.2)
    raise AssertionError(f"bindings never settled: {last}")


def _no_sharing(found: dict[int, tuple[str, str, str]]) -> None:
    conversations = [(agent, conv) for agent, conv, _ in found.values()]
    assert len(conversations) == len(set(conversations)), found


@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=3, max_size=3), steps=actions)
def test_mixed_agents_in_one_directory_never_share_a_conversation(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    kinds: list[str],
    steps: list[tuple[str, int]],
) -> None:
    base = tmp_path_factory.mktemp("agents")
    world = make_world(base, monkeypatch, gemini_hook=True)
    conf = Path(base) / "tmux.conf"
    conf.write_text("set -g default-shell /bin/sh\n")
    client = TmuxClient(socket_name=f"yr-test-{secrets.token_hex(6)}", config_file=str(conf))
    try:
        start_panes(client, "p", world.project, kinds)
        found = session(client, "p")
        assert found is not None
        ids = [p.pane_id for p in found.windows[0].panes]
        for pane_id, kind in zip(ids, kinds, strict=True):
            if kind == "gemini":
                type_line(client, pane_id, "hello")
        before = _settled(client, "p")
        _no_sharing(before)
        for action, which in steps:
            if action == "clear":
                type_line(client, ids[which], "/clear")
            elif action == "exit":
                client.run_chain([("send-keys", "-t", ids[which], "C-d")])
            else:
                saved = session(client, "p")
                assert saved is not None
                pid = client.server_pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                assert wait_pid_gone(pid, 5.0)
                restore_session(client, saved, ProgramPolicy())
                ids = [p.pane_id for p in session(client, "p").windows[0].panes]  # type: ignore[union-attr]
                after = _settled(client, "p")
                for key, (agent, conv, _) in before.items():
                    assert after.get(key, ("", "", ""))[:2] == (agent, conv), (before, after)
            before = _settled(client, "p")
            _no_sharing(before)
        assert all("Traceback" not in screen(client, i) for i in ids)
    finally:
        kill_tmux_server(client)
