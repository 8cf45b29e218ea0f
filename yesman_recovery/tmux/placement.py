"""Where a tmux server this process starts runs: never in the daemon's cgroup or session.

tmux starts a server on the first ``new-session`` (or ``start-server``) sent to a socket where
none answers: the client forks it, so the server and every pane's program inherit the client's
cgroup. A daemon run by systemd lives in its service's cgroup, and a stop, a restart or a
watchdog restart of the service ends every process of that cgroup (``KillMode=control-group``
or ``mixed``): a server the daemon re-created after a crash would die with the daemon, and
every agent in it. So a call that may start a server is first sent with ``tmux -N`` (never
start one); only when no server answers is it run again through a *launcher*:

- ``systemd`` (what ``auto`` picks inside a systemd unit): ``systemd-run [--user] --scope``.
  ``--scope`` registers a transient scope unit and execs tmux inside it, so the server and its
  panes live in a scope of their own, which ends when the server exits. ``--user`` when the
  daemon runs under a user manager (the usual ``service install --user``); a system unit's
  daemon asks the system manager, which needs root. Chosen over moving the server's pid
  afterwards: the panes are forked before any move could happen, and systemd owns its cgroup
  tree (a process moved behind its back is still "in" the service as far as systemd knows).
  ``systemd-run`` makes the very D-Bus call (``StartTransientUnit`` with its own pid) that the
  daemon would otherwise make itself, without a D-Bus library among the dependencies; it costs
  one process per server start, which is rare.
- an absolute path to a cgroup directory (any v1 hierarchy or the unified one): the launcher
  (``sh``) writes its own pid into that cgroup's ``cgroup.procs``, then execs tmux. For
  supervisors other than systemd that end a service's cgroup (OpenRC's ``rc_cgroup_cleanup``,
  a test's own cgroup).
- always (and all that ``none``, or ``auto`` outside systemd, does): the client runs in a new
  session (``setsid``), so a signal to the daemon's process group (Ctrl-C in its terminal)
  never reaches a server being born; tmux itself daemonises the server into its own session.

A launcher is probed once, when the daemon starts, by running ``true`` through it. One that
fails is reported in one line (:attr:`ServerPlacement.problem`) and dropped: the daemon still
starts, and a server it starts then lives in its cgroup, as the line says. One that fails later
(the bus went away, the cgroup was removed) never stops a restore: the client starts the server
directly and logs one warning line.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerPlacement", "launcher_for", "probe", "resolve_placement", "systemd_unit"]

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 10.0
"""Seconds a launcher's probe may take (systemd-run waits for the bus)."""

_JOIN_CGROUP = (
    'echo $$ 2>/dev/null > "$0/cgroup.procs" '
    '|| { echo "Failed to join the cgroup $0" >&2; exit 1; }; exec "$@"'
)
"""The cgroup launcher's script: ``$0`` is the cgroup directory, ``$@`` the tmux argv. Its
failure reads as systemd-run's do, so the client starts the server directly and says so."""

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[bytes]"]


@dataclass(frozen=True)
class ServerPlacement:
    """How a server this process starts is placed: ``launcher`` words before tmux's argv.

    ``where`` says it for a user ("in a systemd scope of their own"); ``problem`` is the one
    line saying what could not be done, or None.
    """

    launcher: tuple[str, ...] = ()
    where: str = "in a session of their own, in the daemon's cgroup"
    problem: str | None = None


def systemd_unit(environ: Mapping[str, str], cgroup_text: str) -> str | None:
    """``"user"`` or ``"system"``: the manager whose service runs this process, else None.

    systemd sets ``INVOCATION_ID`` in every unit it starts; the service's cgroup path says
    which manager (a user manager's services are under ``user@UID.service``).
    """
    if not environ.get("INVOCATION_ID"):
        return None
    paths = [line.split(":", 2)[-1] for line in cgroup_text.splitlines() if line.count(":") >= 2]
    services = [p for p in paths if ".service" in p]
    if not services:
        return None
    return "user" if any("/user@" in p for p in services) else "system"


def launcher_for(setting: str, manager: str | None) -> tuple[str, ...]:
    """The launcher words for ``[tmux] server_cgroup`` = ``setting`` (empty: none)."""
    if setting == "none" or (setting == "auto" and manager is None):
        return ()
    if setting in ("auto", "systemd"):
        user = ("--user",) if manager != "system" else ()
        return ("systemd-run", *user, "--scope", "--quiet", "--collect",
                "--description=tmux server started by yesman-recovery", "--")  # fmt: skip
    return ("sh", "-c", _JOIN_CGROUP, setting)


def resolve_placement(
    setting: str,
    *,
    environ: Mapping[str, str] | None = None,
    cgroup_file: Path = Path("/proc/self/cgroup"),
    run: Runner | None = None,
) -> ServerPlacement:
    """Decide and probe the placement of ``[tmux] server_cgroup`` = ``setting``.

    Runs the probe in the caller's thread (at most :data:`PROBE_TIMEOUT` seconds) and logs the
    outcome: where servers will run (info), or what could not be done (one warning line).
    """
    placement = _placement(setting, environ, cgroup_file, run)
    if placement.problem is not None:
        logger.warning("%s", placement.problem)
    else:
        logger.info("tmux servers this daemon starts run %s", placement.where)
    return placement


def _placement(
    setting: str, environ: Mapping[str, str] | None, cgroup_file: Path, run: Runner | None
) -> ServerPlacement:
    env = os.environ if environ is None else environ
    try:
        cgroup_text = cgroup_file.read_text()
    except OSError:
        cgroup_text = ""
    manager = systemd_unit(env, cgroup_text)
    launcher = launcher_for(setting, manager)
    if not launcher:
        return ServerPlacement()
    if launcher[0] == "systemd-run":
        where = f"in a systemd scope of their own ({' '.join(launcher[:3])})"
    else:
        where = f"in the cgroup {setting}"
    failure = probe(launcher, run or _run, env.get("PATH"))
    if failure is None:
        return ServerPlacement(launcher, where)
    return ServerPlacement(
        where=ServerPlacement.where,
        problem=f"cannot start tmux servers {where}: {failure}; a server this daemon starts "
        "stays in its cgroup and ends when the daemon's service is stopped",
    )


def probe(
    launcher: tuple[str, ...], run: Runner | None = None, path: str | None = None
) -> str | None:
    """Run ``true`` through ``launcher``: None when it worked, else why not (one line)."""
    if shutil.which(launcher[0], path=path) is None:
        return f"{launcher[0]} is not installed (PATH {path or os.defpath})"
    try:
        proc = (run or _run)([*launcher, "true"])
    except subprocess.TimeoutExpired:
        return f"{launcher[0]} did not answer within {PROBE_TIMEOUT:g}s"
    except OSError as exc:
        return f"cannot run {launcher[0]}: {exc.strerror or exc}"
    if proc.returncode == 0:
        return None
    words = " ".join(proc.stderr.decode("utf-8", "replace").split())
    return words or f"{launcher[0]} exited with status {proc.returncode}"


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        list(argv), capture_output=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL,
        check=False, start_new_session=True,
    )  # fmt: skip
