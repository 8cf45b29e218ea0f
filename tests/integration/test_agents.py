"""Agents through a tmux server crash, end to end: each pane back on its own conversation.

Real tmux on an isolated socket, a real RecoveryApp, the fake CLIs of :mod:`.fake_clis` started
by hand at the panes' shells, the SessionStart hook installed in the test's own HOME.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.agents.world import bindings, make_world, session, start_panes, type_line
from yesman_recovery.agents.claude import project_dir
from yesman_recovery.app import RecoveryApp
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone

from .conftest import AppFactory, session_state, wait_until

pytestmark = pytest.mark.tmux
SETTLE = 30.0  # generous: catches a hang, not a slow machine


def _crash(client: TmuxClient) -> None:
    server = client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    assert wait_pid_gone(server, 5.0)


def _resumes(app: RecoveryApp, agent: str, outcome: str) -> float:
    labels = {"agent": agent, "outcome": outcome}
    return app.metrics.registry.get_sample_value("yesman_recovery_agent_resumes_total", labels) or 0


def _checkpointed(app: RecoveryApp, name: str, count: int) -> list[dict[str, object]] | None:
    state = session_state(app, name)
    agents = state.get("agents") if state else None
    return agents if agents and len(agents) == count and state["state"] == "healthy" else None  # type: ignore[index]


def test_three_claudes_in_one_directory_each_come_back_on_their_own_conversation(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, monkeypatch)
    start_panes(tmux_client, "work", world.project, ["claude", "claude --model opus", "claude"])
    first = wait_until(lambda: len(set(bindings(tmux_client, "work").values())) == 3 and
                       bindings(tmux_client, "work"), timeout=SETTLE)  # fmt: skip
    assert {source for _, _, source in first.values()} == {"hook"}
    app = make_app()
    # /clear inside the first claude moves its binding to the new conversation
    pane0 = session(tmux_client, "work").windows[0].panes[0].pane_id  # type: ignore[union-attr]
    type_line(tmux_client, pane0, "/clear")
    moved = wait_until(lambda: (b := bindings(tmux_client, "work")).get(0, first[0]) != first[0]
                       and b, timeout=SETTLE)  # fmt: skip
    expected = {i: conv for i, (_, conv, _) in moved.items()}
    assert (expected[1], expected[2]) == (first[1][1], first[2][1])
    listed = wait_until(
        lambda: (
            (a := _checkpointed(app, "work", 3))
            and {x["pane"]: x["id"] for x in a} == expected
            and a
        ),
        timeout=SETTLE,
    )
    assert {x["source"] for x in listed} == {"hook"}

    _crash(tmux_client)

    back = wait_until(
        lambda: (b := bindings(tmux_client, "work")) and all(s == "hook" for _, _, s in b.values())
        and len(b) == 3 and b, timeout=SETTLE,
    )  # fmt: skip
    assert {i: conv for i, (_, conv, _) in back.items()} == expected
    wait_until(lambda: _resumes(app, "claude", "own") == 3, timeout=SETTLE)
    assert _resumes(app, "claude", "fresh") == _resumes(app, "claude", "failed") == 0
    panes = session(tmux_client, "work").windows[0].panes  # type: ignore[union-attr]
    assert "--model" in (panes[1].argv or ())  # the user's own flags are kept
    assert app.store is not None
    records = [r.detail for r in app.store.audit.query() if "agent" in r.detail]
    assert any(expected[0] in d and "resumes" in d for d in records), records
    assert sum("agent own" in d for d in records) == 3, records


def test_codex_gemini_and_a_claude_whose_transcript_was_deleted_share_a_directory(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, monkeypatch)
    start_panes(tmux_client, "mixed", world.project, ["codex", "gemini", "claude", "gemini"])
    found = session(tmux_client, "mixed")
    assert found is not None
    for pane in found.windows[0].panes[1::2]:  # gemini writes its chat from the first message
        type_line(tmux_client, pane.pane_id, "hello")
    first = wait_until(lambda: len(b := bindings(tmux_client, "mixed")) == 4 and b, timeout=SETTLE)
    assert [first[i][0] for i in range(4)] == ["codex", "gemini", "claude", "gemini"]
    assert first[0][2] == "open file"
    assert first[1][2] == first[3][2] == "evidence"
    assert first[1][1] != first[3][1]
    app = make_app()
    wait_until(lambda: _checkpointed(app, "mixed", 4), timeout=SETTLE)
    (project_dir(str(world.project)) / f"{first[2][1]}.jsonl").unlink()

    _crash(tmux_client)

    back = wait_until(
        lambda: len(b := bindings(tmux_client, "mixed")) == 4 and b[0][2] == "open file" and b,
        timeout=SETTLE,
    )
    assert back[0][1] == first[0][1]
    assert back[0][2] == "open file"
    assert back[1][1] == first[1][1]
    assert back[3][1] == first[3][1]
    assert back[2][1] != first[2][1]  # gone: a fresh conversation, not a crash loop
    wait_until(lambda: _resumes(app, "codex", "own") == 1 and _resumes(app, "gemini", "own") == 2
               and _resumes(app, "claude", "fresh") == 1, timeout=SETTLE)  # fmt: skip
    assert app.store is not None
    records = [r.detail for r in app.store.audit.query()]
    assert any("conversation gone" in d for d in records), records
    state = session_state(app, "mixed")
    assert state is not None
    assert state["state"] == "healthy"
