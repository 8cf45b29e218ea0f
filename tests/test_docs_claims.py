"""Claims of docs/sessions.md and docs/tmux.md, read from the docs and checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

from yesman_recovery.actors.context import SessionState
from yesman_recovery.defaults import DEFAULT_PROGRAMS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_session_states_listed_are_those_sessions_list_shows() -> None:
    text = (DOCS / "sessions.md").read_text()
    line = re.search(r"Session states shown by `sessions list` and `/status`: (.*?)\.", text, re.S)
    assert line is not None
    listed = set(re.findall(r"`(\w+)`", line.group(1)))
    # A released session is dropped from the list at the next poll: it is never shown.
    assert listed == {s.value for s in SessionState} - {SessionState.RELEASED.value}
    assert "leaves `sessions list` at the next poll" in " ".join(text.split())


def test_the_default_allowlist_holds_no_build_or_run_tool() -> None:
    text = (DOCS / "tmux.md").read_text()
    assert "agents, editors and pagers, and monitors" in text
    runtimes = {"node", "python", "python3", "npm", "npx", "make", "cargo", "go", "deno", "bun"}
    assert not DEFAULT_PROGRAMS & runtimes
