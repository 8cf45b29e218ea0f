"""yesman-claude users' own files through the real daemon on real tmux.

Fixture files are written fresh here in each of yesman-claude's shapes: an inline session with
``{command:, name:}`` panes, a list ``before_script`` and an environment, in a sub-folder
(``development/frontend.yaml``); ``template_name`` + ``override`` (``backend.yaml``, template
in the ``templates/`` beside the sessions folder); a ``_`` file (skipped); a legacy
``projects.yaml`` entry.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import wait_until
from .daemon import Daemon, cli, write_config

pytestmark = pytest.mark.tmux

TEMPLATE = """\
session_name: "{{ session_name }}"
start_directory: "{{ start_directory }}"
before_script: echo "template $MODE" > before.txt
windows:
  - window_name: server
    layout: even-horizontal
    panes:
      - echo server
      - echo logs
  - window_name: shell
    panes:
      - null
"""

BACKEND = """\
template_name: django
override:
  start_directory: {project}/backend
  environment:
    MODE: backend-mode
"""

FRONTEND = """\
session_name: front
start_directory: {project}/frontend
environment:
  API_URL: http://127.0.0.1:8000
before_script:
  - echo "one $API_URL" > before.txt
  - echo two >> before.txt
windows:
  - window_name: dev
    panes:
      - command: echo dev-server
        name: dev-server
      - name: notes
  - window_name: tests
    start_directory: sub
    panes:
      - echo tests
"""

PROJECTS = """\
sessions:
  legacy:
    start_directory: {project}
    windows:
      - window_name: old
        panes: [echo old]
"""


def _layout(tmp_path: Path) -> Path:
    project = tmp_path / "projects"
    for folder in ("backend", "frontend", "frontend/sub"):
        (project / folder).mkdir(parents=True)
    home = tmp_path / "yesman"
    (home / "templates").mkdir(parents=True)
    (home / "sessions" / "development").mkdir(parents=True)
    (home / "templates" / "django.yaml").write_text(TEMPLATE)
    (home / "sessions" / "backend.yaml").write_text(BACKEND.format(project=project))
    frontend = FRONTEND.format(project=project)
    (home / "sessions" / "development" / "frontend.yaml").write_text(frontend)
    (home / "sessions" / "_base.yaml").write_text("session_name: '{{ NAME }}'\n")
    (tmp_path / "projects.yaml").write_text(PROJECTS.format(project=project))
    return project


def _session(client: TmuxClient, name: str) -> SessionSnapshot:
    found = take_snapshot(client).session(name)
    assert found is not None, name
    return found


def _healthy(daemon: Daemon) -> set[str]:
    return {name for name, s in daemon.sessions().items() if s["state"] == "healthy"}


def _environment(client: TmuxClient, name: str) -> set[str]:
    return set(client.run("show-environment", "-t", f"={name}").splitlines())


@pytest.fixture
def daemon(tmp_path: Path, tmux_client: TmuxClient) -> Iterator[Daemon]:
    assert tmux_client.socket_name is not None
    extra = (
        'adopt = "none"\n[yesman]\nsessions_dir = "yesman/sessions"\n'
        'projects = "projects.yaml"\nbefore_script_timeout = "10s"\n'
    )
    _layout(tmp_path)
    started = Daemon(write_config(tmp_path / "yr.toml", tmux_client.socket_name, extra))
    yield started
    started.stop()


def test_sessions_built_as_yesman_setup_builds_them_and_restored(
    daemon: Daemon, tmux_client: TmuxClient, tmp_path: Path
) -> None:
    project = tmp_path / "projects"
    names = {"backend", "front", "legacy"}
    wait_until(lambda: _healthy(daemon) >= names, timeout=30)
    listed = daemon.sessions()
    assert set(listed) == names  # `_base.yaml` is skipped
    assert listed["front"]["origin"].endswith("sessions/development/frontend.yaml")
    assert listed["legacy"]["origin"].endswith("projects.yaml (sessions.legacy)")

    backend = _session(tmux_client, "backend")
    assert [w.name for w in backend.windows] == ["server", "shell"]
    assert [len(w.panes) for w in backend.windows] == [2, 1]
    assert {p.cwd for p in backend.panes()} == {str(project / "backend")}
    assert "MODE=backend-mode" in _environment(tmux_client, "backend")
    before = project / "backend" / "before.txt"  # the template's before_script, in its folder
    assert before.read_text() == "template backend-mode\n"

    front = _session(tmux_client, "front")
    dev, tests = front.windows
    assert [p.title for p in dev.panes] == ["dev-server", "notes"]
    assert tests.panes[0].cwd == str(project / "frontend" / "sub")
    assert "API_URL=http://127.0.0.1:8000" in _environment(tmux_client, "front")
    ran = (project / "frontend" / "before.txt").read_text()
    assert ran == "one http://127.0.0.1:8000\ntwo\n"  # a list runs in order, once
    wait_until(
        lambda: "dev-server" in tmux_client.run("capture-pane", "-p", "-t", dev.panes[0].pane_id)
    )
    assert _session(tmux_client, "legacy").windows[0].name == "old"

    # Every session is checkpointed; the server is killed; all come back as they were.
    wait_until(lambda: all(s["checkpointed"] for s in daemon.sessions().values()), timeout=20)
    server = tmux_client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    wait_until(lambda: tmux_client.server_pid() not in (None, server), timeout=20)
    wait_until(
        lambda: (
            _healthy(daemon) >= names and all(take_snapshot(tmux_client).session(n) for n in names)
        ),
        timeout=30,
    )
    again = _session(tmux_client, "front")
    assert [w.name for w in again.windows] == ["dev", "tests"]
    assert [p.title for p in again.windows[0].panes] == ["dev-server", "notes"]
    assert _session(tmux_client, "backend").windows[1].panes[0].cwd == str(project / "backend")
    assert before.read_text() == "template backend-mode\n"  # a restore is not a setup


def test_reload_applies_edited_added_removed_and_broken_files(
    daemon: Daemon, tmux_client: TmuxClient, tmp_path: Path
) -> None:
    config = daemon.config
    sessions = tmp_path / "yesman" / "sessions"
    wait_until(lambda: daemon.state_of("front") == "healthy", timeout=30)
    tmux_client.run("new-window", "-d", "-t", "=front:", "-n", "mine")  # the user's own
    frontend = sessions / "development" / "frontend.yaml"
    text = frontend.read_text()
    frontend.write_text(
        text + "  - window_name: added\n    panes: [{command: echo added, name: new}]\n"
    )
    (sessions / "extra.yml").write_text("windows:\n  - window_name: x\n    panes: [null]\n")
    (sessions / "backend.yaml").unlink()

    applied = cli(config, "reload")
    assert applied.returncode == 0, applied.stderr
    assert "sessions added: extra" in applied.stdout
    assert "sessions removed: backend" in applied.stdout
    assert "sessions changed: front" in applied.stdout
    wait_until(lambda: "added" in [w.name for w in _session(tmux_client, "front").windows])
    windows = {w.name: w for w in _session(tmux_client, "front").windows}
    assert {"dev", "tests", "mine", "added"} <= set(windows)
    assert windows["added"].panes[0].title == "new"  # a repair titles the panes it creates
    wait_until(lambda: take_snapshot(tmux_client).session("extra") is not None)
    wait_until(lambda: "backend" not in daemon.sessions())  # /status is cached a moment
    # no longer declared; its tmux session is left as it is
    assert take_snapshot(tmux_client).session("backend") is not None

    frontend.write_text(text.replace("windows:", "windows: [\n"))
    before = _session(tmux_client, "front")
    rejected = cli(config, "reload", "--state-dir", str(tmp_path / "state"))
    assert rejected.returncode == 2
    assert f"{frontend}: line " in rejected.stderr
    assert ", column " in rejected.stderr
    assert "unicode string" not in rejected.stderr
    assert "reload rejected (1 problem in " in (rejected.stderr)
    time.sleep(0.6)  # three polls: nothing is changed
    assert [w.name for w in _session(tmux_client, "front").windows] == [
        w.name for w in before.windows
    ]
    assert "extra" in daemon.sessions()
    audit = cli(config, "audit", "--kind", "config", "--state-dir", str(tmp_path / "state"))
    assert "rejected" in audit.stdout


def test_a_reload_storm_ends_on_the_last_valid_files(
    daemon: Daemon, tmux_client: TmuxClient, tmp_path: Path
) -> None:
    sessions = tmp_path / "yesman" / "sessions"
    wait_until(lambda: daemon.state_of("front") == "healthy", timeout=30)
    storm = sessions / "storm.yaml"
    started = time.monotonic()
    for i in range(100):  # 100 SIGHUPs in about a second, the file rewritten in between
        if i % 3 == 0:
            storm.write_text("windows: [\n")  # half-written: not valid YAML
        else:
            storm.write_text(f"windows:\n  - window_name: w{i}\n    panes: [null]\n")
        os.kill(daemon.process.pid, signal.SIGHUP)
        time.sleep(0.01)
    assert time.monotonic() - started < 5
    storm.write_text("windows:\n  - window_name: last\n    panes: [null]\n")
    os.kill(daemon.process.pid, signal.SIGHUP)
    wait_until(lambda: daemon.state_of("storm") == "healthy", timeout=30)
    wait_until(lambda: "last" in [w.name for w in _session(tmux_client, "storm").windows])
    assert daemon.process.poll() is None
    assert {"front", "legacy", "backend"} <= set(daemon.sessions())
    assert not any("Traceback" in line for line in daemon.stderr)
    ran = [x for x in daemon.stderr if "configuration reloaded" in x or "reload rejected" in x]
    assert 1 < len(ran) < 101  # coalesced: a reload begun after a SIGHUP answers it
