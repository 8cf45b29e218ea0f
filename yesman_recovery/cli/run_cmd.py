"""``yesman-recovery run``: the daemon in the foreground.

SIGTERM and SIGINT stop the tree cleanly and the command exits 0; the root supervisor giving up
exits 1; a bad configuration exits 2 before anything starts; anything else that prevents the
start (another daemon holds the state directory or the tmux server, the metrics port is taken,
tmux is missing, the state directory is unusable, the store file is damaged) exits 1 with one
line saying what and how to fix it; ``--reset-damaged-store`` moves a damaged store file aside
first. The stop runs on its own thread, not in the signal handler, so a handler never blocks
the main thread that is waiting for the tree; the main thread waits in short slices so signals
are handled promptly.

SIGHUP reloads the configuration file (:mod:`yesman_recovery.reload`) on a thread of its own,
with ``RELOADING=1`` … ``READY=1`` to systemd around it; an invalid file is logged and the daemon
keeps its last good configuration. SIGUSR1, SIGUSR2 and SIGALRM, which would otherwise kill the
process, are logged and ignored; SIGPIPE is ignored by Python. SIGQUIT and SIGKILL end the
process at once, with no clean stop: the next start closes the recovery records left open, and
the kernel releases the locks. Under systemd (``NOTIFY_SOCKET``) the daemon speaks the notify
protocol (:mod:`yesman_recovery.systemd`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from yesman_recovery.cli.common import (
    TMUX_MISSING,
    common_options,
    fail,
    load_config,
    resolve_state_dir,
)
from yesman_recovery.errors import RecoveryError

if TYPE_CHECKING:
    from yesman_recovery.app import RecoveryApp
    from yesman_recovery.config import Config
    from yesman_recovery.systemd import Notifier

logger = logging.getLogger(__name__)

LOG_LEVELS = ("debug", "info", "warning", "error")
STOP_TIMEOUT = 10.0
"""Seconds the tree gets to stop after SIGTERM/SIGINT before its stragglers are abandoned."""


@click.command()
@common_options
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="Messages at this level and above go to stderr.",
)
@click.option(
    "--reset-damaged-store",
    is_flag=True,
    help="If the store file is truncated or not a store, move it aside (kept as "
    "data.mdb.damaged-TIME) and start with an empty store.",
)
@click.pass_context
def run(ctx: click.Context, log_level: str, reset_damaged_store: bool) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT (then exit 0)."""
    config = load_config(ctx)
    state_dir = resolve_state_dir(ctx)
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _preflight(config)
    if reset_damaged_store:
        _reset_damaged_store(state_dir)
    # Imported here: the tree's dependencies (pykka, lmdb) slow down every other command.
    from yesman_recovery.app import RecoveryApp
    from yesman_recovery.systemd import Heartbeat, Notifier

    app = RecoveryApp(config, state_dir=state_dir)
    notifier = Notifier.from_environ()
    stopper = _Stopper(app.stop, notifier)
    previous = {sig: signal.signal(sig, stopper.on_signal) for sig in _SIGNALS}
    reloader = _Reloader(app, notifier)
    app.around_reload = reloader.around
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reloader.on_signal)
    for sig in _IGNORED:
        previous[sig] = signal.signal(sig, _ignore)
    heartbeat: Heartbeat | None = None
    try:
        try:
            with _quiet_start_failures(log_level):
                app.start()
        except RecoveryError as exc:
            click.echo(f"yesman-recovery: error: could not start: {root_cause(exc)}", err=True)
            ctx.exit(1)
        _announce_metrics(app, enabled=config.metrics.enabled)
        click.echo(f"yesman-recovery: running, state in {state_dir}; stop with SIGTERM or Ctrl-C")
        sys.stdout.flush()
        if notifier.enabled:
            heartbeat = Heartbeat(
                notifier,
                app.healthy,
                notifier.watchdog_interval or STATUS_INTERVAL,
                lambda: summary(app),
                keepalive=notifier.watchdog_interval is not None,
            )
            notifier.ready(summary(app))
            heartbeat.start()
        code = None
        while code is None:
            code = app.wait(timeout=0.5)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        stopper.stop_and_join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ctx.exit(code)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STATUS_INTERVAL = 10.0
"""Seconds between ``STATUS=`` updates to systemd when it set no watchdog."""


_IGNORED = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)
"""Signals whose default action would kill the daemon with no clean stop: logged, ignored."""


def _ignore(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    logger.warning("%s received and ignored (stop with SIGTERM, reload with SIGHUP)", name)


class _Reloader:
    """SIGHUP: reload on a thread of its own (the handler must not block the main thread)."""

    def __init__(self, app: RecoveryApp, notifier: Notifier) -> None:
        self._app = app
        self._notifier = notifier

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        logger.info("SIGHUP received: reloading the configuration")
        threading.Thread(target=self.reload, name="yesman-recovery-reload", daemon=True).start()

    def reload(self) -> None:
        self._app.reload()  # logs its outcome

    def around(self, reload: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Every reload (SIGHUP or ``reload``): RELOADING=1 before, READY=1 after."""
        self._notifier.reloading()
        try:
            return reload()
        finally:
            self._notifier.ready(summary(self._app))


def _preflight(config: Config) -> None:
    """Refuse, in one line, what would otherwise fail deep in the tree with tracebacks."""
    if shutil.which("tmux") is None:
        fail(f"error: could not start: {TMUX_MISSING}")
    if config.metrics.enabled and config.metrics.port != 0:
        problem = port_taken(config.metrics.host, config.metrics.port)
        if problem is not None:
            fail(f"error: could not start: {problem}")


def port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (e.g. another process holds it), else None.

    A probe bind, as the endpoint binds (``SO_REUSEADDR``): what it refuses, the endpoint
    would refuse a moment later.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"the metrics port {shown} is already in use; stop the process that holds "
                    f"it (see `ss -ltnp 'sport = :{port}'`) or choose another [metrics] listen "
                    "port (0 picks a free one)"
                )
            return f"cannot listen on {shown}: {exc.strerror}; fix [metrics] listen"
    return None


def root_cause(exc: BaseException) -> str:
    """The innermost yesman-recovery error's message in ``exc``'s causes (start errors wrap).

    ``StartError`` chains (root → tmux → a child) say where it failed; the innermost cause says
    what is wrong and how to fix it, which is the one line a user needs.
    """
    from yesman_recovery.errors import StartError

    found: BaseException = exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RecoveryError) and not isinstance(current, StartError):
            found = current
        current = current.__cause__ or current.__context__
    return str(found)


class _DropStartTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("pykka")


@contextlib.contextmanager
def _quiet_start_failures(log_level: str) -> Iterator[None]:
    """While the tree starts, drop Pykka's tracebacks of a child that failed to start.

    The start error is then printed once, as one line (:func:`root_cause`); ``--log-level
    debug`` keeps the tracebacks.
    """
    if log_level.lower() == "debug":
        yield
        return
    quiet = _DropStartTracebacks()
    pykka_logger = logging.getLogger("pykka")
    pykka_logger.addFilter(quiet)
    try:
        yield
    finally:
        pykka_logger.removeFilter(quiet)


def summary(app: RecoveryApp) -> str:
    """One line for ``systemctl status``: the health verdict's first reason when unhealthy,
    sessions by state and the state directory."""
    try:
        sessions = app.sessions(timeout=1.0)
    except Exception as exc:  # a subtree restarting: say less rather than nothing
        logger.debug("no sessions for the status line: %r", exc)
        return f"running; state in {app.state_dir}"
    counts: dict[str, int] = {}
    for session in sessions:
        state = str(session.get("state", "?"))
        counts[state] = counts.get(state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    watched = f"{len(sessions)} session{'' if len(sessions) == 1 else 's'}"
    detail = f" ({states})" if states else ""
    line = f"watching {watched}{detail}; state in {app.state_dir}"
    reasons = app.verdict(sessions)["reasons"]
    if reasons:
        first = reasons[0]
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        line = f"unhealthy: {first['kind']} {first['subject']}{more}; {line}"
    return line


def _reset_damaged_store(state_dir: Path) -> None:
    """Move a damaged ``data.mdb`` aside, saying so; a sound one is left alone."""
    from yesman_recovery.errors import DamagedStoreError
    from yesman_recovery.storage.datafile import check_data_file, move_aside

    try:
        check_data_file(state_dir)
    except DamagedStoreError as exc:
        try:
            moved = move_aside(state_dir)
        except OSError as err:
            fail(f"error: {exc}; and it could not be moved aside: {err.strerror or err}")
        click.echo(f"yesman-recovery: {exc}", err=True)
        click.echo(f"yesman-recovery: moved it to {moved}; starting with an empty store", err=True)


def _announce_metrics(app: RecoveryApp, *, enabled: bool) -> None:
    if not enabled:
        click.echo("yesman-recovery: metrics endpoint disabled")
        return
    try:
        address = app.metrics_address
    except Exception as exc:  # a signal stopped the tree while it was starting
        logger.debug("metrics address unavailable: %r", exc)
        return
    if address is not None:
        host, port = address
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"yesman-recovery: metrics on http://{shown}:{port}/metrics")


class _Stopper:
    """Calls ``stop`` once, on a thread of its own, when the first signal arrives.

    ``STOPPING=1`` goes to systemd first, so it does not mistake the stop for a hang.
    """

    def __init__(self, stop: Callable[[float], None], notifier: Notifier | None = None) -> None:
        self._stop = stop
        self._notifier = notifier
        # Touched only by the main thread (signal handlers and the finally clause run there).
        self._thread: threading.Thread | None = None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._thread is not None:
            logger.warning("%s received again: already stopping (up to %.0f s)", name, STOP_TIMEOUT)
            return
        logger.info("%s received: stopping the supervision tree", name)
        self._start()

    def stop_and_join(self) -> None:
        """Stop the tree if no signal did, and wait for the stop to finish."""
        thread = self._thread or self._start()
        thread.join(STOP_TIMEOUT + 5.0)

    def _start(self) -> threading.Thread:
        if self._notifier is not None:
            self._notifier.stopping("stopping")
        self._thread = threading.Thread(
            target=self._stop, args=(STOP_TIMEOUT,), name="yesman-recovery-stop", daemon=True
        )
        self._thread.start()
        return self._thread
