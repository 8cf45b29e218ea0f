"""What the actors need of a tmux server, as a protocol: run a chain, its pid, a snapshot.

:class:`~yesman_recovery.tmux.client.TmuxClient` satisfies it against a real server; tests give
the session and watcher actors a fake that holds :class:`ServerSnapshot` records instead, so a
crash, a freeze or a damaged session is a few milliseconds and no tmux.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from yesman_recovery.tmux.records import ServerSnapshot


class ChainRunner(Protocol):
    """Runs tmux commands on one server; enough to observe it (:func:`take_snapshot`)."""

    @property
    def server_label(self) -> str:
        """The server as a user would name it: ``-L name``, ``-S path`` or ``default``."""
        ...

    def run_chain(self, commands: Sequence[Sequence[str]]) -> str:
        """Run many commands in one tmux process; tmux stops at the first failure.

        Raises ``TmuxServerGone``, ``TmuxTimeout`` or ``TmuxError``.
        """
        ...


class Tmux(ChainRunner, Protocol):
    """One tmux server: commands, its pid and a snapshot of every session."""

    def server_pid(self) -> int | None:
        """The server's pid, or None when no server runs on the socket."""
        ...

    def snapshot(self, *, scrollback: Mapping[str, int] | None = None) -> ServerSnapshot:
        """Every session of the server; ``scrollback`` maps a session to history lines to keep.

        Raises ``TmuxServerGone`` when no server runs, ``TmuxTimeout`` when it does not answer.
        """
        ...


@runtime_checkable
class Batching(Protocol):
    """A server that runs the plans of many sessions asked for at once in few tmux calls."""

    def run_together(self, commands: Sequence[Sequence[str]]) -> None:
        """Run ``commands`` in order (raises their own ``TmuxError``)."""
        ...
