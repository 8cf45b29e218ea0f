"""``SharedSnapshots``: one whole-server snapshot at a time, shared by everyone waiting for one.

While restores settle, every restored session's actor looks at the server every 20 ms
(:func:`~yesman_recovery.tmux.restore.observe_until`), and each look is a snapshot of the *whole*
server: N sessions settling at once would take N snapshots per 20 ms, each of all N sessions —
O(N²) work for tmux, ``/proc`` and the daemon. :class:`SharedSnapshots` wraps a
:class:`~yesman_recovery.tmux.protocol.Tmux` so that concurrent callers share snapshots: a caller
gets a snapshot whose taking *began after its call* (so it never sees a state older than its own
request), either one it takes itself or one another caller began meanwhile. At most one snapshot
is in flight; everyone who asked while it ran shares the next one. N settling sessions then cost
about one snapshot per look, whatever N. A snapshot also starts no sooner after the previous one
ended than that one took: looking at 100 sessions x 4 panes takes ~0.1 s (``/proc`` of every
pane), and looks back to back would keep a core busy while the restored shells need it.

Restore plans that sessions run at the same moment go through one
:class:`~yesman_recovery.tmux.batch.ChainBatcher` (:meth:`SharedSnapshots.run_together`): as
few tmux calls as the message size allows, instead of one client per session.

Snapshots with scrollback (a session's history, asked for every ``scrollback_interval``) are not
shared: they go straight to the server. Errors are shared like results (a server that is gone is
gone for every caller of that look). Commands and the server's pid pass straight through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from yesman_recovery.tmux.batch import ChainBatcher
from yesman_recovery.tmux.plan import Command
from yesman_recovery.tmux.protocol import Tmux
from yesman_recovery.tmux.records import ServerSnapshot

__all__ = ["SharedSnapshots"]


class SharedSnapshots:
    """A :class:`Tmux` whose plain snapshots are shared between concurrent callers."""

    def __init__(self, client: Tmux) -> None:
        self.client = client
        self._cond = threading.Condition()
        self._started = 0  # guarded by _cond: snapshots begun
        self._done = 0  # guarded by _cond: the number of the newest finished snapshot
        self._running = False  # guarded by _cond
        self._last: ServerSnapshot | BaseException | None = None  # guarded by _cond
        self._ended = float("-inf")  # guarded by _cond: monotonic end of the newest snapshot
        self._spent = 0.0  # guarded by _cond: how long it took
        self.batcher = ChainBatcher(client)
        self.taken = 0  # snapshots taken of the server (read by tests and benchmarks)
        self.served = 0  # snapshots handed out

    @property
    def server_label(self) -> str:
        return self.client.server_label

    def run_chain(self, commands: Sequence[Sequence[str]]) -> str:
        return self.client.run_chain(commands)

    def run_together(self, commands: Sequence[Command]) -> None:
        """Run a plan's commands, with the plans other sessions run at the same moment."""
        self.batcher.run(commands)

    def server_pid(self) -> int | None:
        return self.client.server_pid()

    def snapshot(self, *, scrollback: Mapping[str, int] | None = None) -> ServerSnapshot:
        """A snapshot begun after this call: shared with the callers waiting for the same one."""
        if scrollback:
            return self.client.snapshot(scrollback=scrollback)
        with self._cond:
            need = self._started + 1  # one running now began before this call: not fresh
            while self._done < need and self._running:
                self._cond.wait()
            if self._done >= need:
                self.served += 1
                return self._result()
            self._running = True  # who asks from now on waits for this one
            rest = self._ended + self._spent - time.monotonic()
        if rest > 0:
            time.sleep(rest)  # snapshots take at most half of the time (see the docstring)
        with self._cond:
            self._started += 1
            mine = self._started
        began = time.monotonic()
        result: ServerSnapshot | BaseException
        try:
            result = self.client.snapshot()
        except Exception as exc:  # shared with the waiters, then raised here too
            result = exc
        with self._cond:
            self._ended = time.monotonic()
            self._spent = self._ended - began
            self._done, self._last, self._running = mine, result, False
            self.taken += 1
            self.served += 1
            self._cond.notify_all()
            return self._result()

    def _result(self) -> ServerSnapshot:
        last = self._last
        if isinstance(last, BaseException):
            raise last
        assert last is not None
        return last

    def __getattr__(self, name: str) -> object:
        # What is not the protocol's (``socket_name``, ``timeout``, ``run``…) is the client's.
        return getattr(self.client, name)
