"""Where a tmux server the daemon starts runs: the decision, the probes, and the client's use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.placement import launcher_for, resolve_placement, systemd_unit

USER_CGROUP = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/yesman-recovery.service\n"
SYSTEM_CGROUP = "1:name=systemd:/system.slice/yesman-recovery.service\n0::/\n"


def test_a_systemd_unit_is_told_by_its_invocation_id_and_cgroup() -> None:
    unit = {"INVOCATION_ID": "0f3c"}
    assert systemd_unit(unit, USER_CGROUP) == "user"
    assert systemd_unit(unit, SYSTEM_CGROUP) == "system"
    assert systemd_unit({}, USER_CGROUP) is None  # a shell inside the user's manager
    assert systemd_unit(unit, "0::/\n") is None


def test_auto_uses_a_scope_only_under_systemd() -> None:
    assert launcher_for("auto", None) == ()
    assert launcher_for("none", "user") == ()
    assert launcher_for("auto", "user")[:4] == ("systemd-run", "--user", "--scope", "--quiet")
    assert launcher_for("auto", "system")[:3] == ("systemd-run", "--scope", "--quiet")
    assert launcher_for("/sys/fs/cgroup/x", None)[-1] == "/sys/fs/cgroup/x"


def test_outside_systemd_auto_probes_nothing(tmp_path: Path) -> None:
    placement = resolve_placement("auto", environ={}, cgroup_file=tmp_path / "absent")
    assert placement.launcher == ()
    assert placement.problem is None


@pytest.mark.skipif(shutil.which("systemd-run") is None, reason="systemd-run is not installed")
def test_a_failing_systemd_run_is_one_line_and_no_launcher(tmp_path: Path) -> None:
    """The real systemd-run; on a machine without a systemd bus (this one) it fails."""
    cgroup = tmp_path / "cgroup"
    cgroup.write_text(USER_CGROUP)
    placement = resolve_placement("auto", environ={"INVOCATION_ID": "1"}, cgroup_file=cgroup)
    if placement.problem is None:  # a machine with a working user manager
        assert placement.launcher[0] == "systemd-run"
        return
    assert placement.launcher == ()
    assert "\n" not in placement.problem
    assert placement.problem.startswith(
        "cannot start tmux servers in a systemd scope of their own (systemd-run --user --scope): "
    )
    assert placement.problem.endswith("ends when the daemon's service is stopped")


def test_a_cgroup_that_cannot_be_joined_is_one_line(tmp_path: Path) -> None:
    placement = resolve_placement(str(tmp_path / "no-such-cgroup"), environ={})
    assert placement.launcher == ()
    assert placement.problem is not None
    assert f"in the cgroup {tmp_path / 'no-such-cgroup'}: " in placement.problem
    assert "\n" not in placement.problem


def test_a_missing_launcher_is_named(tmp_path: Path) -> None:
    placement = resolve_placement("systemd", environ={"PATH": str(tmp_path)})
    assert placement.launcher == ()
    assert placement.problem is not None
    assert ": systemd-run is not installed (PATH " in placement.problem


def test_the_launcher_runs_only_when_no_server_answers(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    """A launcher that logs each use: a live server is never started through it."""
    log = tmp_path / "launched"
    launcher = ("sh", "-c", 'echo launched >> "$0" && exec "$@"', str(log))
    client = TmuxClient(
        socket_name=tmux_client.socket_name, config_file=tmux_client.config_file, launcher=launcher
    )
    client.run("new-session", "-d", "-s", "first")
    assert log.read_text() == "launched\n"
    client.run_chain([["new-session", "-d", "-s", "second"], ["list-sessions"]])
    client.run("list-sessions")
    assert log.read_text() == "launched\n"
    assert {"first", "second"} <= set(client.run("list-sessions", "-F", "#S").split())


@pytest.mark.parametrize("failing", ["systemd-run", "cgroup", "missing"])
def test_a_launcher_that_fails_later_never_stops_a_server_start(
    tmux_client: TmuxClient, tmp_path: Path, caplog: pytest.LogCaptureFixture, failing: str
) -> None:
    """The bus gone (systemd-run's own words), the cgroup removed, the launcher uninstalled:
    the server is started directly and one warning says so."""
    launcher = {
        "systemd-run": ("sh", "-c", 'echo "Failed to connect to bus: Host is down" >&2; exit 1'),
        "cgroup": launcher_for(str(tmp_path / "removed-cgroup"), None),
        "missing": (str(tmp_path / "no-such-launcher"),),
    }[failing]
    client = TmuxClient(
        socket_name=tmux_client.socket_name, config_file=tmux_client.config_file, launcher=launcher
    )
    with caplog.at_level("WARNING", logger="yesman_recovery.tmux.client"):
        client.run("new-session", "-d", "-s", "agent")
    assert client.run("list-sessions", "-F", "#S").split() == ["agent"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.endswith("; starting the tmux server directly, in the daemon's cgroup")
