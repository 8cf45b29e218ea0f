"""``yesman-recovery run``: the daemon in the foreground.

SIGTERM and SIGINT stop the tree cleanly and the command exits 0; the root supervisor giving up
exits 1; a bad configuration exits 2 before anything starts. The stop runs on its own thread,
not in the signal handler, so a handler never blocks the main thread that is waiting for the
tree; the main thread waits in short slices so signals are handled promptly.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import click

from yesman_recovery.cli.common import common_options, load_config, resolve_state_dir
from yesman_recovery.errors import RecoveryError

if TYPE_CHECKING:
    from yesman_recovery.app import RecoveryApp

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
@click.pass_context
def run(ctx: click.Context, log_level: str) -> None:
    """Run the daemon in the foreground until SIGTERM or SIGINT (then exit 0)."""
    config = load_config(ctx)
    state_dir = resolve_state_dir(ctx)
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Imported here: the tree's dependencies (pykka, lmdb) slow down every other command.
    from yesman_recovery.app import RecoveryApp

    app = RecoveryApp(config, state_dir=state_dir)
    stopper = _Stopper(app.stop)
    previous = {sig: signal.signal(sig, stopper.on_signal) for sig in _SIGNALS}
    try:
        try:
            app.start()
        except RecoveryError as exc:
            click.echo(f"yesman-recovery: error: could not start: {exc}", err=True)
            ctx.exit(1)
        _announce_metrics(app, enabled=config.metrics.enabled)
        click.echo(f"yesman-recovery: running, state in {state_dir}; stop with SIGTERM or Ctrl-C")
        sys.stdout.flush()
        code = None
        while code is None:
            code = app.wait(timeout=0.5)
    finally:
        stopper.stop_and_join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    ctx.exit(code)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
    """Calls ``stop`` once, on a thread of its own, when the first signal arrives."""

    def __init__(self, stop: Callable[[float], None]) -> None:
        self._stop = stop
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
        self._thread = threading.Thread(
            target=self._stop, args=(STOP_TIMEOUT,), name="yesman-recovery-stop", daemon=True
        )
        self._thread.start()
        return self._thread
