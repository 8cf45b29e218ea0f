"""How many connections the HTTP endpoint holds, and which one it drops when that is too many.

Every open connection costs the daemon a file descriptor and a thread. Without a bound, 1,000
idle or half-sent connections took every descriptor of a daemon limited to 1,024, and the
restore of a crashed tmux server then failed with "Too many open files". So:

- at most ``limit`` connections are open at once (:func:`default_limit`: 256, fewer when the
  process may open few files), which leaves the rest of the descriptors to recovery;
- when a new connection arrives and all slots are taken, the **oldest idle** connection is
  closed to make room — idle meaning its request has not been read yet and no byte of one is
  waiting (a flood of idle connections then cannot lock out a real request, which always has
  its bytes waiting); connections busy with a request are never dropped;
- when every slot is busy, the new connection waits (it is already accepted; more wait in the
  kernel's listen queue) until one finishes, which takes milliseconds since nothing the endpoint
  serves blocks.

Thread use: :meth:`ConnectionSlots.admit` runs on the accept thread; :meth:`mark_busy`,
:meth:`mark_idle` and :meth:`release` on each connection's own thread. One condition guards the
table.
"""

from __future__ import annotations

import logging
import resource
import select
import socket
import threading
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 256
"""Connections the endpoint holds at most (:func:`default_limit` may choose fewer)."""


def default_limit() -> int:
    """256, or an eighth of the open-file limit when that is smaller (at least 4)."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(4, min(MAX_CONNECTIONS, soft // 8))


@dataclass
class _Slot:
    busy: bool = False  # True iff a request has been read and is being answered


class ConnectionSlots:
    """At most ``limit`` connections; the oldest idle one is closed for a new one."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"`limit` must be at least 1, got {limit}")
        self.limit = limit
        self._cond = threading.Condition()
        # guarded by _cond: open connections, oldest idle first (re-inserted when idle again)
        self._open: dict[socket.socket, _Slot] = {}
        self.evicted = 0  # guarded by _cond: connections closed to make room

    @property
    def count(self) -> int:
        """Connections holding a slot now."""
        with self._cond:
            return len(self._open)

    def admit(self, conn: socket.socket, closing: threading.Event) -> bool:
        """Give ``conn`` a slot, closing the oldest idle connection if none is free.

        Waits while every slot is busy; False when ``closing`` is set first (the caller then
        closes ``conn``).
        """
        with self._cond:
            while len(self._open) >= self.limit:
                if closing.is_set():
                    return False
                victim = self._oldest_idle()
                if victim is None:
                    self._cond.wait(0.05)
                    continue
                del self._open[victim]
                self.evicted += 1
                _hang_up(victim)
            self._open[conn] = _Slot()
            return True

    def mark_busy(self, conn: socket.socket) -> None:
        """A whole request was read from ``conn``: it is not to be dropped now."""
        with self._cond:
            slot = self._open.get(conn)
            if slot is not None:
                slot.busy = True

    def mark_idle(self, conn: socket.socket) -> None:
        """``conn`` answered its request and waits for another (keep-alive): droppable again."""
        with self._cond:
            slot = self._open.pop(conn, None)
            if slot is not None:
                slot.busy = False
                self._open[conn] = slot  # now the newest
                self._cond.notify_all()

    def release(self, conn: socket.socket) -> None:
        """``conn`` is closing: free its slot (a no-op for one already dropped)."""
        with self._cond:
            if self._open.pop(conn, None) is not None:
                self._cond.notify_all()

    def _oldest_idle(self) -> socket.socket | None:
        for conn, slot in self._open.items():
            if not slot.busy and not _bytes_waiting(conn):
                return conn
        return None


def _bytes_waiting(conn: socket.socket) -> bool:
    """True iff something (part of a request, or the client's hang-up) waits on ``conn``.

    poll() with a zero timeout, not ``recv(MSG_PEEK | MSG_DONTWAIT)``: on a socket with a
    timeout Python first waits up to that timeout for data, whatever the flags say.
    """
    fd = conn.fileno()
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _hang_up(conn: socket.socket) -> None:
    """End ``conn`` from another thread: its reader sees end-of-file and closes it."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError as exc:
        logger.debug("dropping an idle connection: %r", exc)
