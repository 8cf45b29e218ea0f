"""Per-kind recovery intensity of one session, the kinds given up on, and their backoff: pure.

Recoveries are bounded per failure kind by a restart intensity (``program_max_restarts`` in
``program_max_seconds``). The windows live outside the actor (in the shared
:class:`~yesman_recovery.actors.context.SessionContext`), so a crash of the actor does not
reset them. Over the intensity, the kind is *given up on* (the session is ``failed``) and
re-armed after a delay that doubles with each give-up — ``give_up_backoff`` (1 min), then 2, 4…
up to ``give_up_backoff_max`` (1 h), as Kubernetes' CrashLoopBackOff — so a broken agent is not
restarted a few times a minute for ever. A kind re-armed that then goes ``give_up_reset``
(10 min) without being given up on again starts over at the first delay. Other kinds are still
recovered meanwhile. The give-up counts live beside the windows, outside the actor.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind
from yesman_recovery.backoff import exponential_delay
from yesman_recovery.supervisors.restart import IntensityWindow

Windows = MutableMapping[tuple[str, FailureKind], IntensityWindow]
"""Every session's windows, by (session name, kind)."""


@dataclass(frozen=True)
class GiveUpBackoff:
    """How long a kind given up on waits before it is re-armed (see the module docstring)."""

    initial: float = 60.0
    maximum: float = 3600.0
    reset: float = 600.0

    def delay(self, strikes: int) -> float:
        """The wait after the ``strikes``-th give-up in a row (1-based)."""
        cap = max(self.initial, self.maximum)
        return exponential_delay(max(1, strikes), self.initial, cap, 2.0)


@dataclass
class Strikes:
    """Give-ups of one kind in a row, and when it was last re-armed (monotonic)."""

    count: int = 0
    rearmed_at: float | None = None


History = MutableMapping[tuple[str, FailureKind], Strikes]
"""Every session's give-up counts, by (session name, kind)."""


class RecoveryLimits:
    """The intensity windows of session ``name`` and the kinds it gave up on, with reasons."""

    def __init__(
        self,
        name: str,
        max_restarts: int,
        max_seconds: float,
        windows: Windows,
        *,
        backoff: GiveUpBackoff | None = None,
        history: History | None = None,
    ) -> None:
        self.name = name
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.backoff = backoff or GiveUpBackoff()
        self._windows = windows
        self._history: History = {} if history is None else history
        self._failed: dict[FailureKind, str] = {}
        self._rearm_at: dict[FailureKind, float] = {}

    @property
    def failed(self) -> bool:
        """True iff some kind is given up on."""
        return bool(self._failed)

    def gave_up(self, kind: FailureKind) -> bool:
        """True iff ``kind`` is given up on (its recoveries are skipped)."""
        return kind in self._failed

    def reasons(self) -> str:
        """Why the session is failed: every given-up kind's reason."""
        return "; ".join(self._failed.values())

    def next_attempt(self) -> float | None:
        """Monotonic time of the next re-arm, or None when no given-up kind has one."""
        return min(self._rearm_at.values(), default=None)

    def over(self, problem: Diagnosis, now: float) -> str | None:
        """Count one recovery of ``problem``; the give-up reason when it exceeds the intensity."""
        window = self._window(problem.kind)
        if not window.record(now):
            return None
        return (
            f"{problem.kind.value}: {problem.detail}; gave up after more than "
            f"{window.max_restarts} recoveries in {window.max_seconds:g} s"
        )

    def give_up(self, kind: FailureKind, reason: str, now: float | None = None) -> float | None:
        """Give up on ``kind``; with ``now``, re-arm it after the backoff (returned, seconds).

        Without ``now`` (nothing to count: a broken spec), the kind stays given up on.
        """
        self._failed[kind] = reason
        if now is None:
            return None
        strikes = self._history.setdefault((self.name, kind), Strikes())
        if strikes.rearmed_at is not None and now - strikes.rearmed_at >= self.backoff.reset:
            strikes.count = 0  # it stayed up long enough: start over
        strikes.count += 1
        delay = self.backoff.delay(strikes.count)
        self._rearm_at[kind] = now + delay
        return delay

    def reset(self) -> None:
        """Clear every give-up, window and backoff of this session (``sessions reset``)."""
        self._failed.clear()
        self._rearm_at.clear()
        for key in [k for k in self._windows if k[0] == self.name]:
            del self._windows[key]
        for key in [k for k in self._history if k[0] == self.name]:
            del self._history[key]

    def rearm(self, now: float) -> list[FailureKind]:
        """Re-arm the kinds whose backoff has passed; returns them. Their windows start over."""
        rearmed = []
        for kind, at in list(self._rearm_at.items()):
            if now >= at:
                del self._rearm_at[kind]
                self._failed.pop(kind, None)
                self._windows[(self.name, kind)] = IntensityWindow(
                    self.max_restarts, self.max_seconds
                )
                self._history.setdefault((self.name, kind), Strikes()).rearmed_at = now
                rearmed.append(kind)
        return rearmed

    def _window(self, kind: FailureKind) -> IntensityWindow:
        key = (self.name, kind)
        window = self._windows.get(key)
        if window is None:
            window = IntensityWindow(self.max_restarts, self.max_seconds)
            self._windows[key] = window
        return window


def format_delay(seconds: float) -> str:
    """``seconds`` for people: ``45 s``, ``4 min``, ``1 h 30 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
