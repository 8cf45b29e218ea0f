"""``yesman-recovery service install [--user] [--print]``: a systemd unit that runs the daemon.

The unit is ``Type=notify`` (the daemon says ``READY=1`` once its tree is up), with a watchdog
(``WatchdogSec=``; the daemon sends keep-alives at half that period while its root supervisor is
healthy), ``Restart=on-failure`` (exit 1 when the root gives up, or a missed watchdog) and
``ExecReload=`` sending SIGHUP. ``--user`` writes a user unit (the usual choice: tmux sessions
belong to a user); without it a system unit runs the daemon as the invoking user (``User=``).

``ExecStart`` repeats ``--config`` and ``--state-dir`` when they were given (absolute), so the
service runs on what this command was run with. The unit is written only where none exists or
with ``--force``; ``--print`` writes nothing and prints the unit.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

import click

from yesman_recovery.cli.common import common_options, config_path, fail

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
    text = render_unit(
        exec_start=daemon_command(ctx),
        user_unit=user_unit,
        watchdog=watchdog,
        run_as=None if user_unit else _invoking_user(),
    )
    if print_only:
        click.echo(text, nl=False)
        return
    path = unit_path(user_unit)
    if path.exists() and not force:
        if path.read_text() == text:
            click.echo(f"{path} is already up to date")
            _print_next_steps(user_unit)
            return
        fail(f"{path} exists and differs; review it, then rerun with --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        hint = " (a system unit needs root: use sudo, or --user)" if not user_unit else ""
        fail(f"cannot write {path}: {exc.strerror}{hint}")
    click.echo(f"wrote {path}")
    _print_next_steps(user_unit)


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
    *, exec_start: list[str], user_unit: bool, watchdog: int, run_as: str | None
) -> str:
    """The unit file's text."""
    service = [
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={' '.join(map(quote, exec_start))}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={watchdog}",
        f"TimeoutStopSec={STOP_TIMEOUT}",
        "Environment=PYTHONUNBUFFERED=1",
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
