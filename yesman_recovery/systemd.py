"""systemd's notify protocol (``sd_notify``): readiness, status, watchdog, stopping, reloading.

When systemd starts the daemon with ``Type=notify`` it sets ``NOTIFY_SOCKET`` (a datagram socket,
a path or ``@abstract``) and, with ``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``).
The daemon sends ``READY=1`` once its tree is up, ``WATCHDOG=1`` every half watchdog period while
the root supervisor is healthy, ``STATUS=...`` as a one-line summary (``systemctl status``),
``STOPPING=1`` when it begins to stop, and ``RELOADING=1``/``READY=1`` around a reload. Without
``NOTIFY_SOCKET`` every call is a no-op, so the same code runs in a terminal.

This is the protocol in a few lines rather than a dependency: ``sdnotify`` (the pure-Python one)
has not been released since 2017, drops every error silently and does not read the watchdog
variables; ``systemd-python`` and ``cysystemd`` are C extensions that need libsystemd's headers
and a compiler at install time, for what is one ``sendto`` per message.

A failed send is logged once and otherwise ignored: systemd going away must not stop the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class Notifier:
    """Sends notify messages to ``socket_address``; every method is a no-op when it is None.

    Thread-safe (each message is one datagram). ``watchdog_interval`` is half of
    ``WATCHDOG_USEC`` in seconds when systemd asked this process for keep-alives, else None.
    """

    def __init__(self, socket_address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = socket_address
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._warned = False  # True once a failed send was logged

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd set up for this process (``NOTIFY_SOCKET``, ``WATCHDOG_*``)."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec_text = env.get("WATCHDOG_USEC", "")
        watchdog_pid = env.get("WATCHDOG_PID", "")
        usec = int(usec_text) if usec_text.isdigit() and int(usec_text) > 0 else None
        if watchdog_pid and watchdog_pid != str(os.getpid()):
            usec = None  # the watchdog is meant for another process (e.g. our parent)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        """True iff systemd listens (``NOTIFY_SOCKET`` was set)."""
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True iff it was sent."""
        if self.address is None:
            return False
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        message = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                logger.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: the service is up (and after a reload, up again)."""
        return self.send("READY=1", *(_status(status) if status else ()))

    def reloading(self) -> bool:
        """``RELOADING=1`` with the ``MONOTONIC_USEC`` systemd 253+ wants; follow with ready()."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: the service is shutting down."""
        return self.send("STOPPING=1", *(_status(status) if status else ()))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: a keep-alive."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """``STATUS=``: one line shown by ``systemctl status``."""
        return self.send(*_status(text))


def _status(text: str) -> tuple[str]:
    return ("STATUS=" + " ".join(text.split()),)  # one line: newlines would end the field


class Heartbeat:
    """A thread that sends ``WATCHDOG=1`` every ``interval`` seconds while ``healthy()`` holds.

    An unhealthy check sends nothing, so when the root supervisor gives up (or stops answering)
    systemd's watchdog fires and ``Restart=on-failure`` starts a fresh daemon. ``summary``, when
    given, is asked on each tick after the keep-alive and sent as ``STATUS=`` when it changed.
    With ``keepalive`` False (no ``WatchdogSec``) only the summary is sent.
    """

    def __init__(
        self,
        notifier: Notifier,
        healthy: Callable[[], bool],
        interval: float,
        summary: Callable[[], str] | None = None,
        *,
        keepalive: bool = True,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"`interval` must be positive seconds, got {interval!r}")
        self._notifier = notifier
        self._healthy = healthy
        self._interval = interval
        self._summary = summary
        self._keepalive = keepalive
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_status: str | None = None  # touched by the heartbeat thread only
        self.beats = 0
        """Keep-alives sent so far (read by tests)."""

    def start(self) -> None:
        """Start the thread (daemon, so it never holds the process up)."""
        self._thread = threading.Thread(
            target=self._run, name="yesman-recovery-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending and wait for the thread (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def tick(self) -> None:
        """One beat: a keep-alive iff healthy, then the summary if it changed."""
        try:
            healthy = self._healthy()
        except Exception:  # a check that fails is an unhealthy daemon, not a dead heartbeat
            logger.exception("the health check of the watchdog failed")
            healthy = False
        if not healthy:
            return
        if self._keepalive and self._notifier.watchdog():
            self.beats += 1
        if self._summary is not None:
            try:
                text = self._summary()
            except Exception as exc:
                logger.debug("no status summary: %r", exc)
                return
            if text != self._last_status:
                self._last_status = text
                self._notifier.status(text)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.tick()
