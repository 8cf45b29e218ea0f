"""``yesman-recovery sessions list|save|restore`` against real tmux servers, stores and daemons."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from yesman_recovery.actors.http import StatusServer
from yesman_recovery.app import RecoveryApp
from yesman_recovery.cli import main
from yesman_recovery.config import load_config
from yesman_recovery.storage import open_store
from yesman_recovery.tmux import SessionSnapshot, TmuxClient, take_snapshot, wait_pid_gone

pytestmark = pytest.mark.tmux

TAIL = ("tail", "-f", "/dev/null")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.02)


@pytest.fixture
def config_file(tmp_path: Path, tmux_client: TmuxClient) -> Path:
    """A configuration on the isolated server, with its state in ``tmp_path/state``."""
    path = tmp_path / "yesman-recovery.toml"
    path.write_text(
        f'[tmux]\nsocket_name = "{tmux_client.socket_name}"\n'
        'programs = ["tail"]\npoll_interval = "100ms"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[storage]\npath = "{tmp_path / "state"}"\n'
        '[[sessions]]\nname = "declared"\n'
    )
    return path


def build(client: TmuxClient, name: str, panes: int = 2) -> None:
    """A session of one window with ``panes`` panes running ``tail``, and a shell window."""
    commands: list[tuple[str, ...]] = [
        ("new-session", "-d", "-s", name, "-x", "120", "-y", "40", "-n", "agents", "--", *TAIL)
    ]
    commands += [("split-window", "-t", f"={name}:", "--", *TAIL)] * (panes - 1)
    commands.append(("new-window", "-t", f"={name}:", "-n", "shell"))
    client.run_chain(commands)


def kill_server(client: TmuxClient) -> None:
    pid = client.server_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_pid_gone(pid, 5.0)


def saved_ids(out: str) -> dict[str, str]:
    return dict(line.split("\t") for line in out.splitlines())


# --- save -----------------------------------------------------------------------------------


def test_save_writes_one_checkpoint_per_session_in_the_daemons_format(
    tmux_client: TmuxClient, config_file: Path, tmp_path: Path
) -> None:
    build(tmux_client, "declared")
    build(tmux_client, "other", panes=1)
    pid = tmux_client.server_pid()

    code, out, err = invoke("sessions", "save", "--config", str(config_file))

    assert code == 0, err
    ids = saved_ids(out)
    assert set(ids) == {"declared", "other"}
    with open_store(tmp_path / "state") as store:
        for name, mode, panes in (("declared", "declared", 3), ("other", "adopted", 2)):
            checkpoint = store.checkpoints.latest_good(name)
            assert checkpoint is not None
            assert checkpoint.id == ids[name]
            assert checkpoint.metadata == {"server_pid": pid, "mode": mode}
            session = SessionSnapshot.from_dict(checkpoint.state["session"])
            assert session.name == name
            assert len(session.panes()) == panes


def test_save_named_sessions_only_and_an_unchanged_session_keeps_its_id(
    tmux_client: TmuxClient, config_file: Path, tmp_path: Path
) -> None:
    build(tmux_client, "a")
    build(tmux_client, "b")
    code, out, _ = invoke("sessions", "save", "a", "--config", str(config_file))
    assert code == 0
    first = saved_ids(out)
    assert set(first) == {"a"}

    code, out, _ = invoke("sessions", "save", "a", "--config", str(config_file))
    assert code == 0
    assert saved_ids(out) == first
    with open_store(tmp_path / "state") as store:
        assert [c.id for c in store.checkpoints.list("a")] == [first["a"]]
        assert store.checkpoints.list("b") == []


def test_save_of_an_unknown_session_fails_and_saves_nothing(
    tmux_client: TmuxClient, config_file: Path, tmp_path: Path
) -> None:
    build(tmux_client, "real")
    code, out, err = invoke("sessions", "save", "real", "ghost", "--config", str(config_file))
    assert code == 1
    assert "no session named 'ghost'" in err
    assert "'real'" in err
    assert out == ""
    with open_store(tmp_path / "state") as store:
        assert store.checkpoints.list("real") == []


def test_save_without_a_tmux_server_says_there_is_nothing_to_save(config_file: Path) -> None:
    code, _, err = invoke("sessions", "save", "--config", str(config_file))
    assert code == 1
    assert "has no session to save" in err


def test_save_of_a_stopped_server_reports_it_unresponsive(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    build(tmux_client, "s", panes=1)
    pid = tmux_client.server_pid()
    assert pid is not None
    config = tmp_path / "c.toml"
    config.write_text(
        f'[tmux]\nsocket_name = "{tmux_client.socket_name}"\ncommand_timeout = "300ms"\n'
    )
    os.kill(pid, signal.SIGSTOP)
    try:
        code, _, err = invoke("sessions", "save", "--config", str(config))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert code == 1
    assert "did not answer within 0.3s" in err


# --- restore --------------------------------------------------------------------------------


def test_restore_after_the_server_was_killed_brings_the_session_back_with_its_programs(
    tmux_client: TmuxClient, config_file: Path, tmp_path: Path
) -> None:
    build(tmux_client, "work", panes=3)
    code, out, _ = invoke("sessions", "save", "--config", str(config_file))
    assert code == 0
    checkpoint_id = saved_ids(out)["work"]
    kill_server(tmux_client)

    code, out, err = invoke("sessions", "restore", "work", "--config", str(config_file))

    assert code == 0, err
    assert f"restored session 'work' (2 windows, 4 panes) from checkpoint {checkpoint_id}" in out
    assert out.rstrip().endswith(": ok")
    session = take_snapshot(tmux_client).session("work")
    assert session is not None
    agents, shell = session.windows
    assert (agents.name, shell.name) == ("agents", "shell")
    assert [p.argv for p in agents.panes] == [TAIL] * 3
    with open_store(tmp_path / "state") as store:
        (event,) = store.audit.query(subject="work")
        assert (event.kind, event.action, event.outcome) == ("recovery", "restore", "success")
        assert checkpoint_id in event.detail


def test_restore_of_a_session_that_exists_refuses(
    tmux_client: TmuxClient, config_file: Path
) -> None:
    build(tmux_client, "work")
    assert invoke("sessions", "save", "--config", str(config_file))[0] == 0
    before = take_snapshot(tmux_client).session("work")

    code, out, err = invoke("sessions", "restore", "work", "--config", str(config_file))

    assert code == 1
    assert "session 'work' already exists" in err
    assert "kill-session -t =work" in err
    assert out == ""
    assert take_snapshot(tmux_client).session("work") == before
    hint = err.split("`")[1]  # the printed hint is a command that works, as printed
    assert hint == f"tmux -L {tmux_client.socket_name} kill-session -t =work"
    build(tmux_client, "keep", panes=1)  # so that the server outlives the killed session
    subprocess.run(["sh", "-c", hint], check=True, timeout=10)
    assert take_snapshot(tmux_client).session("work") is None
    code, out, err = invoke("sessions", "restore", "work", "--config", str(config_file))
    assert code == 0, err


def test_restore_of_a_given_checkpoint_uses_that_one(
    tmux_client: TmuxClient, config_file: Path
) -> None:
    build(tmux_client, "declared", panes=1)
    code, out, _ = invoke("sessions", "save", "--config", str(config_file))
    old_id = saved_ids(out)["declared"]
    tmux_client.run("split-window", "-t", "=declared:agents", "--", *TAIL)
    code, out, _ = invoke("sessions", "save", "--config", str(config_file))
    assert saved_ids(out)["declared"] != old_id
    kill_server(tmux_client)

    code, out, err = invoke(
        "sessions", "restore", "declared", "--checkpoint", old_id, "--config", str(config_file)
    )

    assert code == 0, err
    assert old_id in out
    session = take_snapshot(tmux_client).session("declared")
    assert session is not None
    assert len(session.windows[0].panes) == 1


def test_restore_refuses_a_checkpoint_of_another_session(
    tmux_client: TmuxClient, config_file: Path
) -> None:
    build(tmux_client, "a", panes=1)
    code, out, _ = invoke("sessions", "save", "a", "--config", str(config_file))
    a_id = saved_ids(out)["a"]
    code, _, err = invoke(
        "sessions", "restore", "b", "--checkpoint", a_id, "--config", str(config_file)
    )
    assert code == 1
    assert f"checkpoint {a_id} belongs to 'a', not to session 'b'" in err


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [("nope@00", "cannot use checkpoint 'nope@00'"), (None, "no checkpoint of session 'ghost'")],
)
def test_restore_without_a_usable_checkpoint_fails_with_a_hint(
    config_file: Path, checkpoint: str | None, message: str, tmp_path: Path
) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    args = ["sessions", "restore", "ghost", "--config", str(config_file)]
    if checkpoint is not None:
        args += ["--checkpoint", checkpoint]
    code, _, err = invoke(*args)
    assert code == 1
    assert message in err


def test_restore_of_a_checkpoint_that_holds_no_session_fails(
    config_file: Path, tmp_path: Path
) -> None:
    with open_store(tmp_path / "state") as store:
        bad = store.checkpoints.create("work", {"something": "else"})
    code, _, err = invoke("sessions", "restore", "work", "--config", str(config_file))
    assert code == 1
    assert f"checkpoint {bad} does not hold a tmux session" in err


def test_restore_that_does_not_match_reports_the_differences(
    tmux_client: TmuxClient, config_file: Path, tmp_path: Path
) -> None:
    # A program that cannot start: the pane is restored, but its program does not run.
    tmux_client.run("new-session", "-d", "-s", "work", "--", *TAIL)
    snap = take_snapshot(tmux_client).session("work")
    assert snap is not None
    data = snap.to_dict()
    data["windows"][0]["panes"][0]["argv"] = ["/nonexistent/bin/tail", "-f", "/dev/null"]
    with open_store(tmp_path / "state") as store:
        store.checkpoints.create("work", {"session": data}, {"server_pid": None})
    kill_server(tmux_client)

    code, out, _ = invoke("sessions", "restore", "work", "--config", str(config_file))

    assert code == 1
    assert "differs from the checkpoint" in out
    differences = [line for line in out.splitlines() if line.startswith("  ")]
    assert differences
    assert all("pane 0" in line for line in differences)
    with open_store(tmp_path / "state") as store:
        (event,) = store.audit.query(subject="work")
        assert event.outcome == "failed"


# --- list -----------------------------------------------------------------------------------


@pytest.fixture
def daemon(config_file: Path) -> Iterator[RecoveryApp]:
    """A real RecoveryApp watching the isolated server, with its endpoint on a free port."""
    app = RecoveryApp(load_config(config_file), registry=CollectorRegistry())
    app.start()
    yield app
    app.stop()


def test_list_shows_every_watched_session_of_the_running_daemon(
    tmux_client: TmuxClient, daemon: RecoveryApp
) -> None:
    build(tmux_client, "adopted-one", panes=1)
    # "declared" (no spec) is created by the daemon itself, as a plain session
    assert until(
        lambda: (
            {s["name"]: s["state"] for s in daemon.sessions()}
            == {"adopted-one": "healthy", "declared": "healthy"}
        )
    )
    address = daemon.metrics_address
    assert address is not None
    url = "http://{}:{}".format(*address)

    code, out, err = invoke("sessions", "list", "--url", url)

    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["declared"][1:3] == ["declared", "healthy"]
    assert rows["adopted-one"][1:3] == ["adopted", "healthy"]

    code, out, _ = invoke("sessions", "list", "--json", "--url", url)
    assert code == 0
    listed = {s["name"]: s for s in json.loads(out)}
    assert listed["declared"]["mode"] == "declared"
    assert listed["adopted-one"]["checkpointed"] in (True, False)


def test_list_renders_states_details_and_an_empty_list() -> None:
    sessions: list[dict[str, Any]] = [
        {"name": "agent", "mode": "declared", "state": "failed", "detail": "crashed: gave up",
         "recoveries": 4, "checkpointed": True, "origin": "/home/u/sessions/agent.yaml",
         "note": "before_script failed: exit status 1"},
        {"name": "scratch", "mode": "adopted", "state": "frozen", "detail": "",
         "recoveries": 0, "checkpointed": False},
    ]  # fmt: skip
    document: dict[str, Any] = {"version": "x", "healthy": True, "tree": {}, "sessions": sessions}
    server = StatusServer(
        "127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: document, status_max_age=0
    )
    server.start()
    try:
        code, out, _ = invoke("sessions", "list", "--url", server.url)
        assert code == 0
        agent = next(line for line in out.splitlines() if line.startswith("agent"))
        assert agent.split()[:5] == ["agent", "declared", "failed", "4", "yes"]
        assert "crashed: gave up; before_script failed: exit status 1" in agent
        assert agent.split()[5] == "/home/u/sessions/agent.yaml"  # the source column
        scratch = next(line for line in out.splitlines() if line.startswith("scratch"))
        assert scratch.split() == ["scratch", "adopted", "frozen", "0", "no", "-"]

        document["sessions"] = []
        code, out, _ = invoke("sessions", "list", "--url", server.url)
        assert code == 0
        assert "no watched sessions" in out
    finally:
        server.stop()


def test_list_without_a_daemon_exits_1_with_a_hint(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[metrics]\nlisten = "127.0.0.1:1"\n')
    code, out, err = invoke("sessions", "list", "--config", str(config))
    assert code == 1
    assert out == ""
    assert "no daemon answers at http://127.0.0.1:1/status" in err
    assert "yesman-recovery run" in err
