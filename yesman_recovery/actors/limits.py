"""Per-kind recovery intensity of one session, and the kinds given up on: pure.

Recoveries are bounded per failure kind by a restart intensity (``program_max_restarts`` in
``program_max_seconds``). The windows live outside the actor (in the shared
:class:`~yesman_recovery.actors.context.SessionContext`), so a crash of the actor does not
reset them. Over the intensity, the kind is *given up on* (the session is ``failed``) until its
window has passed; then it is re-armed. Other kinds are still recovered meanwhile.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind
from yesman_recovery.supervisors.restart import IntensityWindow

Windows = MutableMapping[tuple[str, FailureKind], IntensityWindow]
"""Every session's windows, by (session name, kind)."""


class RecoveryLimits:
    """The intensity windows of session ``name`` and the kinds it gave up on, with reasons."""

    def __init__(self, name: str, max_restarts: int, max_seconds: float, windows: Windows) -> None:
        self.name = name
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._windows = windows
        self._failed: dict[FailureKind, str] = {}

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

    def over(self, problem: Diagnosis, now: float) -> str | None:
        """Count one recovery of ``problem``; the give-up reason when it exceeds the intensity."""
        window = self._window(problem.kind)
        if not window.record(now):
            return None
        return (
            f"{problem.kind.value}: {problem.detail}; gave up after more than "
            f"{window.max_restarts} recoveries in {window.max_seconds:g} s"
        )

    def give_up(self, kind: FailureKind, reason: str) -> None:
        self._failed[kind] = reason

    def reset(self) -> None:
        """Clear every give-up and every window of this session (``sessions reset``)."""
        self._failed.clear()
        for key in [k for k in self._windows if k[0] == self.name]:
            del self._windows[key]

    def rearm(self, now: float) -> list[FailureKind]:
        """Re-arm the kinds whose window has passed since they were given up on; returns them."""
        rearmed = []
        for kind in list(self._failed):
            window = self._windows.get((self.name, kind))
            if window is not None and window.count(now) == 0:
                del self._failed[kind]
                rearmed.append(kind)
        return rearmed

    def _window(self, kind: FailureKind) -> IntensityWindow:
        key = (self.name, kind)
        window = self._windows.get(key)
        if window is None:
            window = IntensityWindow(self.max_restarts, self.max_seconds)
            self._windows[key] = window
        return window
