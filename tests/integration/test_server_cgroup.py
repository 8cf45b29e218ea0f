"""Sessions outlive the service: a tmux server the daemon re-creates is not in its cgroup.

A real daemon runs in a cgroup this test makes (on the unified hierarchy), as a service
manager would run it; a crash of the tmux server makes the daemon start a new one; then every
process of the daemon's cgroup is killed, as ``systemctl stop`` does with
``KillMode=control-group``. With ``[tmux] server_cgroup`` naming another cgroup the sessions
survive. With ``systemd`` the real ``systemd-run --scope`` is used: where it works the server
runs in a scope and survives; where it cannot (no systemd bus, as on the machine this was
written on) the daemon says so in one line, starts anyway, and its server dies with its
cgroup — the failure ``server_cgroup`` exists to prevent, shown.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import kill_tmux_server
from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.client import TmuxClient

from .conftest import wait_until
from .daemon import Daemon, write_config

pytestmark = pytest.mark.tmux


def _unified() -> Path | None:
    """Where the unified (cgroup2) hierarchy is mounted: /sys/fs/cgroup/unified on a hybrid
    machine like the one this was written on, /sys/fs/cgroup on a cgroup2-only one."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    return None


def _procs(group: Path) -> list[int]:
    return [int(p) for p in (group / "cgroup.procs").read_text().split()]


def _kill_all(group: Path) -> None:
    """SIGKILL every process of ``group`` until it is empty (new ones may be forked meanwhile)."""
    deadline = time.monotonic() + 20
    while (pids := _procs(group)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    assert not _procs(group), f"processes left in {group}"


@pytest.fixture
def cgroups() -> Iterator[tuple[Path, Path]]:
    """``(service, servers)``: two fresh cgroups under one of this test's own; removed after."""
    unified = _unified()
    if unified is None or not os.access(unified / "cgroup.procs", os.W_OK):
        pytest.skip(f"no writable cgroup2 hierarchy (found {unified})")
    root = unified / f"yr-test-{secrets.token_hex(4)}"
    groups = (root / "service", root / "servers")
    root.mkdir()
    try:
        for group in groups:
            group.mkdir()
        yield groups
    finally:
        for group in groups:
            if group.exists():
                _kill_all(group)
                group.rmdir()
        root.rmdir()


def _server_cgroup(pid: int) -> str:
    line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if x[:3] == "0::")
    return line[3:]


def _has_session(client: TmuxClient, name: str) -> bool:
    try:
        client.run("has-session", "-t", f"={name}")
    except TmuxError:
        return False
    return True


@pytest.mark.parametrize("placement", ["cgroup", "systemd"])
def test_sessions_outlive_a_kill_of_the_daemons_cgroup(
    tmux_client: TmuxClient, cgroups: tuple[Path, Path], tmp_path: Path, placement: str
) -> None:
    service, servers = cgroups
    setting = str(servers) if placement == "cgroup" else "systemd"
    tmux_client.run("new-session", "-d", "-s", "agent", "sleep 600")
    config = write_config(
        tmp_path / "config.toml",
        tmux_client.socket_name or "",
        f'programs = ["sleep"]\nserver_cgroup = "{setting}"\n',
    )
    join = ("sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(service))
    daemon = Daemon(config, prefix=join)
    try:
        assert daemon.process.pid in _procs(service)
        wait_until(lambda: daemon.sessions().get("agent", {}).get("checkpointed"), 30)
        crashed = tmux_client.server_pid()
        assert crashed is not None
        kill_tmux_server(tmux_client)  # the crash: the daemon must start a new server
        server = wait_until(lambda: (p := tmux_client.server_pid()) != crashed and p, 30)
        wait_until(lambda: daemon.state_of("agent") == "healthy", 30)
        inside = _server_cgroup(server)
        _kill_all(service)  # what a service manager's stop does to the service's cgroup
        daemon.process.wait(timeout=30)
        said = [line for line in daemon.stderr if "tmux servers" in line]
        assert len(said) == 1, daemon.stderr
        if "cannot start tmux servers in a systemd scope" in said[0]:
            # No systemd bus (as on the machine these tests were written on): the daemon said
            # so in one line, ran anyway, and its server died with its cgroup, as it said.
            assert placement == "systemd"
            assert inside.endswith("/service")
            wait_until(lambda: not _has_session(tmux_client, "agent"), 10)
            return
        assert inside.endswith("/servers" if placement == "cgroup" else ".scope"), inside
        time.sleep(0.5)  # a server killed with the cgroup would be gone by now
        assert _has_session(tmux_client, "agent")
        assert tmux_client.server_pid() == server
        panes = tmux_client.run("list-panes", "-t", "=agent", "-F", "#{pane_dead} #{pane_pid}")
        dead, pid = panes.split()
        assert dead == "0"
        assert _server_cgroup(int(pid)).endswith("/servers")
    finally:
        daemon.stop()
        kill_tmux_server(tmux_client)
