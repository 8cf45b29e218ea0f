"""A user's machine for agent tests: its own HOME, fake agent CLIs on PATH, the hook installed.

The fakes (:mod:`tests.agents.fake_clis`) follow each CLI's documented behaviour; the wrappers
in ``bin/`` run them with this interpreter, so a pane's program reads ``python …/claude.py``,
as a node-script agent reads ``node …/cli.js``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from yesman_recovery.agents.settings import HOOK_ARGS, HOOKS, apply, plan, settings_path
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

FAKES = Path(__file__).resolve().parent / "fake_clis"
CLIS = ("claude", "codex", "gemini")
HOOK = f"{sys.executable} -m yesman_recovery.cli {HOOK_ARGS}"
GEMINI_HOOK = f"{sys.executable} -m yesman_recovery.cli {HOOKS['gemini'][1]}"


@dataclass(frozen=True)
class World:
    home: Path
    bin: Path
    project: Path


def make_world(
    base: Path, monkeypatch: pytest.MonkeyPatch, *, hook: bool = True, gemini_hook: bool = False
) -> World:
    """HOME, PATH and the hooks for this test (set before its tmux server starts)."""
    home, bindir, project = base / "home", base / "bin", base / "home" / "repo"
    for d in (home, bindir, project):
        d.mkdir(parents=True, exist_ok=True)
    for name in CLIS:
        wrapper = bindir / name
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKES / name}.py "$@"\n')
        wrapper.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    # a login shell's /etc/profile resets PATH: the user's ~/.profile puts the agents on it
    (home / ".profile").write_text(f'PATH="{bindir}:$PATH"\nexport PATH\n')
    monkeypatch.delenv("CODEX_HOME", raising=False)
    if hook:
        apply(plan(settings_path(home), install=True, command=HOOK))
    if gemini_hook:
        path = settings_path(home, "gemini")
        apply(plan(path, install=True, command=GEMINI_HOOK, agent="gemini"))
    return World(home, bindir, project)


def session(client: TmuxClient, name: str) -> SessionSnapshot | None:
    """Session ``name`` as observed now (None while it or its server is not there)."""
    try:
        return take_snapshot(client).session(name)
    except Exception:
        return None


def bindings(client: TmuxClient, name: str) -> dict[int, tuple[str, str, str]]:
    """(agent, conversation, source) of each agent pane of window 0, by pane position."""
    found = session(client, name)
    if found is None or not found.windows:
        return {}
    return {
        i: (p.agent.agent, p.agent.conversation, p.agent.source.value)
        for i, p in enumerate(found.windows[0].panes)
        if p.agent is not None
    }


def start_panes(client: TmuxClient, name: str, cwd: Path, commands: list[str]) -> None:
    """Session ``name`` with one pane per command, each typed at its shell as a user would,
    one after the other (each once the one before shows that it runs)."""
    chain: list[tuple[str, ...]] = [
        ("new-session", "-d", "-s", name, "-x", "200", "-y", "60", "-c", str(cwd))
    ]
    for _ in commands[1:]:
        chain.append(("split-window", "-t", f"={name}:", "-c", str(cwd)))
        chain.append(("select-layout", "-t", f"={name}:", "tiled"))
    client.run_chain(chain)
    found = session(client, name)
    assert found is not None
    for pane, command in zip(found.windows[0].panes, commands, strict=True):
        type_line(client, pane.pane_id, command)
        deadline = time.monotonic() + 30
        while "fake " not in screen(client, pane.pane_id) and time.monotonic() < deadline:
            time.sleep(0.02)


def screen(client: TmuxClient, pane_id: str) -> str:
    """What pane ``pane_id`` shows."""
    return client.run_chain([("capture-pane", "-p", "-t", pane_id)])


def type_line(client: TmuxClient, pane_id: str, line: str) -> None:
    """Type ``line`` and Enter in pane ``pane_id``."""
    client.run_chain(
        [("send-keys", "-t", pane_id, "-l", "--", line), ("send-keys", "-t", pane_id, "Enter")]
    )
