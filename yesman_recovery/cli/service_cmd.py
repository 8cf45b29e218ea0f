"""``yesman-recovery service install [--user] [--print]``: a systemd unit that runs the daemon.

The unit is ``Type=notify`` (the daemon says ``READY=1`` once its tree is up), with a watchdog
(``WatchdogSec=``; the daemon sends keep-alives at half that period while its root supervisor is
healthy), ``Restart=on-failure`` (exit 1 when the root gives up, or a missed watchdog) and
``ExecReload=`` sending SIGHUP. ``--user`` writes a user unit (the usual choice: tmux sessions
belong to a user); without it a system unit runs the daemon as the invoking user (``User=``).

``ExecStart`` repeats ``--config`` and ``--state-dir`` when they were given (absolute), so the
service runs on what this command was run with. The unit is written only where none exists or
with ``--force``; ``--print`` writes nothing and prints the unit.

The service watches the server this command resolves: the unit carries the environment that
decides it and what the agents find — ``PATH`` (tmux, and the programs restored in panes: a
server the daemon starts passes the daemon's environment to its panes) and ``TMUX_TMPDIR``
(where ``-L`` and the default socket live) — and a comment naming the socket. Both, and where a
tmux server the daemon starts will run, are printed.

``KillMode=mixed``: a stop sends SIGTERM to the daemon alone, which stops its tree in order;
what is left of the service's cgroup afterwards (a health-check command) is killed. A tmux
server the daemon starts is not in that cgroup: it runs in a systemd scope of its own
(``[tmux] server_cgroup``, :mod:`yesman_recovery.tmux.placement`), so a stop, a restart or a
watchdog restart never ends a session. ``control-group`` would send SIGTERM to every process at
once, racing the daemon's own orderly stop; ``process`` would leave strays behind.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from yesman_recovery.cli.common import common_options, config_path, fail, load_config

if TYPE_CHECKING:
    from yesman_recovery.config import Config

UNIT_NAME = "yesman-recovery.service"
DEFAULT_WATCHDOG = 30
STOP_TIMEOUT = 30
"""``TimeoutStopSec``: the daemon's own stop timeout (10 s) plus room for tmux and the store."""


@click.group("service")
def service_group() -> None:
    """Run the daemon as a systemd service."""


@service_group.command("install")
@common_options
@click.option("--user", "user_unit", is_flag=True,
              help="Write a user unit (in ~/.config/systemd/user), not a system one.")  # fmt: skip
@click.option("--print", "print_only", is_flag=True, help="Print the unit; write nothing.")
@click.option("--watchdog", type=click.IntRange(min=2), default=DEFAULT_WATCHDOG,
              show_default=True, metavar="SECONDS",
              help="WatchdogSec: restart the daemon when its keep-alives stop.")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite an existing unit file.")
@click.pass_context
def install(
    ctx: click.Context, user_unit: bool, print_only: bool, watchdog: int, force: bool
) -> None:
    """Write the systemd unit of the daemon and print how to enable it."""
    config = load_config(ctx)
    environment = service_environment()
    socket = _socket_line(config)
    text = render_unit(
        exec_start=daemon_command(ctx),
        user_unit=user_unit,
        watchdog=watchdog,
        run_as=None if user_unit else _invoking_user(),
        environment=environment,
        socket=socket,
    )
    if print_only:
        click.echo(text, nl=False)
        return
    path = unit_path(user_unit)
    hint = " (a system unit needs root: use sudo, or --user)" if not user_unit else ""
    try:
        current = path.read_text() if path.exists() else None
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}{hint}")
    if current is not None and not force:
        if current == text:
            click.echo(f"{path} is already up to date")
            _print_settings(environment, socket, config.tmux.server_cgroup, user_unit)
            _print_next_steps(user_unit)
            return
        fail(f"{path} exists and differs; review it, then rerun with --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}{hint}")
    click.echo(f"wrote {path}")
    _print_settings(environment, socket, config.tmux.server_cgroup, user_unit)
    _print_next_steps(user_unit)


def service_environment() -> dict[str, str]:
    """What the unit sets: this shell's ``PATH`` (with tmux's folder) and ``TMUX_TMPDIR``."""
    path = os.environ.get("PATH") or os.defpath
    found = shutil.which("tmux", path=path)
    if found is None and (elsewhere := shutil.which("tmux", path=os.defpath)) is not None:
        path = f"{path}:{os.path.dirname(elsewhere)}"
    env = {"PATH": path}
    if tmpdir := os.environ.get("TMUX_TMPDIR"):
        env["TMUX_TMPDIR"] = tmpdir
    return env


def _socket_line(config: Config) -> str:
    """The server the service will watch, as a user names it: ``-L name (socket file)``."""
    from yesman_recovery.instance import tmux_socket

    tmux = config.tmux
    socket = tmux_socket(tmux.socket_name, tmux.socket_path)
    if tmux.socket_path is not None:
        return f"-S {socket}"
    return f"-L {tmux.socket_name} ({socket})" if tmux.socket_name else f"default ({socket})"


def _print_settings(
    environment: dict[str, str], socket: str, server_cgroup: str, user_unit: bool
) -> None:
    tmux = shutil.which("tmux", path=environment["PATH"])
    click.echo("the service runs with:")
    click.echo(f"  tmux server  {socket}")
    click.echo(f"  tmux         {tmux or 'NOT FOUND on this PATH: install tmux'}")
    for key, value in environment.items():
        click.echo(f"  {key:<12} {value}")
    if "TMUX_TMPDIR" not in environment:
        click.echo("  TMUX_TMPDIR  (unset: sockets in /tmp)")
    click.echo(f"  tmux servers it starts: {_placement_words(server_cgroup, user_unit)}")


def _placement_words(server_cgroup: str, user_unit: bool) -> str:
    if server_cgroup == "none":
        return 'in its cgroup ([tmux] server_cgroup = "none"): a stop of the service ends them'
    if server_cgroup not in ("auto", "systemd"):
        return f"in the cgroup {server_cgroup}"
    if not user_unit and (user := _invoking_user()) != "root":
        return (
            f"in the service's cgroup: a system unit runs the daemon as {user}, who cannot make "
            "system scopes, so a stop of the service would end them; prefer --user"
        )
    from yesman_recovery.tmux.placement import launcher_for, probe

    launcher = launcher_for("systemd", "user" if user_unit else "system")
    scope = f"a systemd scope of their own ({' '.join(launcher[: 3 if user_unit else 2])})"
    if (failure := probe(launcher)) is not None:
        return (
            f"in the service's cgroup: {scope} cannot be made from here ({failure}); "
            "a stop of the service would end them"
        )
    return f"in {scope}, outside the service"


def daemon_command(ctx: click.Context) -> list[str]:
    """``ExecStart``'s words: this program, ``--config``/``--state-dir`` if given, ``run``."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "yesman-recovery" and argv0.exists():
        words = [str(argv0.absolute())]
    else:  # e.g. ``python -m yesman_recovery.cli``: the same interpreter, the same package
        words = [sys.executable, "-m", "yesman_recovery.cli"]
    config = config_path(ctx)
    if config is not None:
        words += ["--config", str(config.expanduser().absolute())]
    state_dir = ctx.meta.get("yesman_recovery.state_dir")
    if isinstance(state_dir, Path):
        words += ["--state-dir", str(state_dir.expanduser().absolute())]
    return [*words, "run"]


def render_unit(
    *,
    exec_start: list[str],
    user_unit: bool,
    watchdog: int,
    run_as: str | None,
    environment: dict[str, str] | None = None,
    socket: str | None = None,
) -> str:
    """The unit file's text."""
    service = [
        *([f"# watches the tmux server {socket}"] if socket else []),
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={' '.join(map(quote, exec_start))}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={watchdog}",
        f"TimeoutStopSec={STOP_TIMEOUT}",
        "# a stop signals the daemon alone; the tmux servers it starts run in scopes of their own",
        "KillMode=mixed",
        "Environment=PYTHONUNBUFFERED=1",
        *(f"Environment={quote_assignment(k, v)}" for k, v in (environment or {}).items()),
    ]
    if run_as is not None:
        service.insert(0, f"User={run_as}")
    target = "default.target" if user_unit else "multi-user.target"
    # A user manager has no network.target; the system one starts us after the network is up
    # (the metrics endpoint may listen on a non-loopback address).
    after = "" if user_unit else "After=network.target\n"
    return (
        "[Unit]\n"
        "Description=yesman-recovery: supervise, checkpoint and restore tmux sessions\n"
        f"{after}"
        "\n[Service]\n" + "".join(f"{line}\n" for line in service) + "\n[Install]\n"
        f"WantedBy={target}\n"
    )


_PLAIN = re.compile(r"[A-Za-z0-9_./:=@+-]+")


def quote(word: str) -> str:
    """One ``ExecStart`` word as systemd reads it: ``%`` and ``$`` doubled, quoted if needed."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(word):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_assignment(key: str, value: str) -> str:
    """One ``Environment=`` assignment as systemd reads it: ``%`` doubled, quoted if needed."""
    text = f"{key}={value}".replace("%", "%%")
    if _PLAIN.fullmatch(f"{key}={value}"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_path(user_unit: bool) -> Path:
    """Where the unit goes: ``$XDG_CONFIG_HOME/systemd/user`` or ``/etc/systemd/system``."""
    if not user_unit:
        return Path("/etc/systemd/system") / UNIT_NAME
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "systemd" / "user" / UNIT_NAME


def _invoking_user() -> str:
    """The user a system unit runs as: the one behind sudo, else the current one."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _print_next_steps(user_unit: bool) -> None:
    ctl = "systemctl --user" if user_unit else "sudo systemctl"
    journal = "journalctl --user" if user_unit else "journalctl"
    click.echo("enable and start it now and at every boot:")
    click.echo(f"  {ctl} daemon-reload && {ctl} enable --now yesman-recovery")
    if user_unit:
        click.echo("keep it running when you are logged out (and start it at boot before login):")
        click.echo("  loginctl enable-linger $USER")
    click.echo(f"see it: {ctl} status yesman-recovery; follow its log: {journal} -u "
               "yesman-recovery -f")  # fmt: skip
