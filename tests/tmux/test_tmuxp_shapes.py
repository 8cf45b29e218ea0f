"""tmuxp's own example shapes load, and build what ``tmuxp load`` builds (on real tmux).

The installed tmuxp package ships no example files, so ``tmuxp_shapes/`` holds files written
here in the shapes of tmuxp's ``examples/`` (blank panes in every spelling, shorthands, titles,
start directories, window indexes, focus, environment, layouts, pane options). Each is built
twice on servers of their own: by the daemon's restore path and by the ``tmuxp load -d`` CLI;
the two sessions must have the same windows, names, indexes, panes, directories, active window
and pane, and environment. Pane titles (``title``, newer tmuxp releases; yesman's ``name``) are
checked on their own: the tmuxp installed here predates them and leaves panes untitled.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import kill_tmux_server
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.restore import restore_session
from yesman_recovery.tmux.snapshot import take_snapshot
from yesman_recovery.tmux.spec import check_spec

pytestmark = pytest.mark.tmux

SHAPES = sorted((Path(__file__).parent / "tmuxp_shapes").glob("*.yaml"))
TMUXP = Path(sys.executable).with_name("tmuxp")


def _shape(session: SessionSnapshot) -> list[Any]:
    """What a user sees of a session's structure (automatic window names depend on timing)."""
    return [
        (
            w.index,
            None if w.automatic_rename else w.name,
            w.active,
            [(p.cwd, p.active) for p in w.panes],
        )
        for w in session.windows
    ]


def _environment(client: TmuxClient, name: str) -> set[str]:
    out = client.run("show-environment", "-t", f"={name}")
    return {line for line in out.splitlines() if not line.startswith("-")}


def test_every_shape_file_loads() -> None:
    assert len(SHAPES) >= 10
    for path in SHAPES:
        session, warnings = check_spec(path)
        assert session.windows, path
        assert not warnings, path


def test_blank_panes_are_blank() -> None:
    session, _ = check_spec(Path(__file__).parent / "tmuxp_shapes" / "blank-panes.yaml")
    counts = [len(w.panes) for w in session.windows]
    assert counts == [3, 3, 3, 2]
    blank = [p for w in session.windows[:2] for p in w.panes]
    assert all(p.shell_commands == () and p.command is None for p in blank)
    assert session.windows[3].panes[1].cwd == "/tmp"


@pytest.mark.skipif(not TMUXP.exists(), reason="the tmuxp CLI is not installed beside python")
@pytest.mark.parametrize("path", SHAPES, ids=[p.stem for p in SHAPES])
def test_built_as_tmuxp_load_builds_it(path: Path, tmux_client: TmuxClient, tmp_path: Path) -> None:
    spec, _ = check_spec(path)
    ours = restore_session(tmux_client, spec, ProgramPolicy(), settle=5.0)
    assert ours.ok, ours.differences
    config = tmp_path / "tmux.conf"
    config.write_text("set -g default-shell /bin/sh\n")
    theirs = TmuxClient(socket_name=f"yr-test-{secrets.token_hex(6)}", config_file=str(config))
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    try:
        load = [str(TMUXP), "load", "-d", "-y", "-L", theirs.socket_name or "", "-f", str(config)]
        subprocess.run(
            [*load, str(path)],
            check=True,
            capture_output=True,
            timeout=60,
            env=env,
            cwd=Path.home(),
        )
        deadline = time.monotonic() + 10
        while True:  # typed `cd`s and tmuxp's own focus moves settle
            a = take_snapshot(tmux_client).session(spec.name)
            b = take_snapshot(theirs).session(spec.name)
            assert a is not None
            assert b is not None
            if _shape(a) == _shape(b) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert _shape(a) == _shape(b)
        assert _environment(tmux_client, spec.name) == _environment(theirs, spec.name)
    finally:
        kill_tmux_server(theirs)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not on PATH")
def test_a_title_reaches_the_pane(tmux_client: TmuxClient) -> None:
    spec, _ = check_spec(Path(__file__).parent / "tmuxp_shapes" / "pane-titles.yaml")
    assert restore_session(tmux_client, spec, ProgramPolicy(), settle=5.0).ok
    seen = take_snapshot(tmux_client).session(spec.name)
    assert seen is not None
    assert [p.title for p in seen.windows[0].panes][:2] == ["editor", "runner"]
