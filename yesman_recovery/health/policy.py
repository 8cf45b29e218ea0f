"""The state machine of one health check, as plain code: results in, decisions out.

One :class:`CheckPolicy` (frozen, the check's thresholds) and one :class:`CheckState` (mutable,
everything the check remembers) go into :func:`observe` with each probe result; it returns a
:class:`Verdict` saying what the actor should do. No threads, no clock of its own: the caller
passes ``now`` (monotonic seconds), so tests drive it with plain numbers.

The rules, in the order :func:`observe` applies them:

1. **Start grace**: a failing result within ``start_grace`` seconds of the check's first start
   is shown but not counted (a success counts: a target that comes up early is healthy early).
2. **Flap detection**: every change of the raw result (pass ↔ fail) is timed; ``flap_threshold``
   changes within ``flap_window`` seconds make the check *flapping*, and it stops flapping only
   when the changes within the window drop to ``flap_leave_threshold`` or fewer (hysteresis, so
   it does not flap in and out of flapping). Raw results are used, not the status, so an
   endpoint that alternates faster than the thresholds can flip the status is still seen.
3. **Hysteresis**: the status becomes ``failing`` after ``failure_threshold`` consecutive
   failures and ``healthy`` after ``success_threshold`` consecutive successes. Becoming healthy
   clears ``escalated`` and the heal backoff (not the budget window).
4. **Heal**: while ``failing``, each failing result may heal: not while flapping (suppressed,
   reason ``flapping``); not when ``heal_max`` heals already ran within ``heal_window``
   (suppressed, reason ``budget``, and the first such result *escalates*); not before the backoff
   since the previous heal has passed (``heal_backoff`` doubling per heal of the same failing
   spell, at most ``heal_window``; a wait, not a suppression). A check without a heal escalates as
   soon as it is failing: nothing else will fix it.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field, replace

from yesman_recovery.backoff import exponential_delay

DEFAULT_INTERVAL = 10.0
DEFAULT_MAX_TIMEOUT = 5.0
DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_SUCCESS_THRESHOLD = 1
DEFAULT_FLAP_RESULTS = 20
"""The flap window, in intervals, when ``flap_window`` is not given (Nagios looks at 21 results)."""
DEFAULT_FLAP_THRESHOLD = 8
DEFAULT_FLAP_LEAVE_THRESHOLD = 4
DEFAULT_HEAL_MAX = 3
DEFAULT_HEAL_WINDOW = 600.0
DEFAULT_HEAL_BACKOFF = 5.0
DEFAULT_HEAL_TIMEOUT = 60.0


class Status(enum.StrEnum):
    """What the hysteresis says about the target."""

    UNKNOWN = "unknown"
    """No verdict yet: starting, or in its start grace."""
    HEALTHY = "healthy"
    FAILING = "failing"


class Suppression(enum.StrEnum):
    """Why a heal that was due did not run (the ``reason`` label)."""

    FLAPPING = "flapping"
    BUDGET = "budget"
    IN_PROGRESS = "in_progress"
    """The same heal action is already running for another check."""


@dataclass(frozen=True)
class CheckPolicy:
    """The thresholds of one check. Seconds are floats; ``None`` fields get derived defaults.

    ``timeout`` defaults to half the interval, at most 5 s; ``flap_window`` to 20 intervals.
    ``flap_threshold=None`` switches flap detection off. Raises ``ValueError`` naming the field.
    """

    interval: float = DEFAULT_INTERVAL
    timeout: float | None = None
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    success_threshold: int = DEFAULT_SUCCESS_THRESHOLD
    start_grace: float = 0.0
    flap_window: float | None = None
    flap_threshold: int | None = DEFAULT_FLAP_THRESHOLD
    flap_leave_threshold: int = DEFAULT_FLAP_LEAVE_THRESHOLD
    heal_max: int = DEFAULT_HEAL_MAX
    heal_window: float = DEFAULT_HEAL_WINDOW
    heal_backoff: float = DEFAULT_HEAL_BACKOFF
    heal_timeout: float = DEFAULT_HEAL_TIMEOUT

    def __post_init__(self) -> None:
        _positive("interval", self.interval)
        if self.timeout is None:
            object.__setattr__(self, "timeout", min(DEFAULT_MAX_TIMEOUT, self.interval / 2))
        timeout = self.resolved_timeout
        _positive("timeout", timeout)
        if timeout >= self.interval:
            raise ValueError(
                f"`timeout` ({timeout} s) must be shorter than `interval` ({self.interval} s)"
            )
        for name in ("failure_threshold", "success_threshold", "heal_max"):
            _at_least_one(name, getattr(self, name))
        if not (math.isfinite(self.start_grace) and self.start_grace >= 0):
            raise ValueError(f"`start_grace` must be >= 0 seconds, got {self.start_grace}")
        if self.flap_window is None:
            object.__setattr__(self, "flap_window", DEFAULT_FLAP_RESULTS * self.interval)
        _positive("flap_window", self.resolved_flap_window)
        if self.flap_threshold is not None:
            _at_least_one("flap_threshold", self.flap_threshold)
            if not 0 <= self.flap_leave_threshold < self.flap_threshold:
                raise ValueError(
                    f"`flap_leave_threshold` must be >= 0 and below `flap_threshold` "
                    f"({self.flap_threshold}), got {self.flap_leave_threshold}"
                )
        _positive("heal_window", self.heal_window)
        _positive("heal_backoff", self.heal_backoff)
        _positive("heal_timeout", self.heal_timeout)

    @property
    def resolved_timeout(self) -> float:
        assert self.timeout is not None  # set by __post_init__
        return self.timeout

    @property
    def resolved_flap_window(self) -> float:
        assert self.flap_window is not None  # set by __post_init__
        return self.flap_window

    def heal_delay(self, heals_in_spell: int) -> float:
        """Seconds to wait after heal number ``heals_in_spell`` (1-based) before the next."""
        cap = max(self.heal_window, self.heal_backoff)
        return exponential_delay(heals_in_spell, self.heal_backoff, cap, 2.0)


@dataclass
class CheckState:
    """Everything one check remembers; owned by the thread that calls :func:`observe`.

    It outlives the actor: a restarted check actor picks up the same record, so thresholds,
    flapping, the heal budget and escalation survive a crash of the actor.
    """

    started_at: float  # monotonic time the check first started; the grace counts from it
    status: Status = Status.UNKNOWN
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_ok: bool | None = None  # the previous raw result, None before the first
    changes: deque[float] = field(default_factory=deque)  # times of raw changes, in window
    flapping: bool = False
    heals: deque[float] = field(default_factory=deque)  # times of heals within heal_window
    heals_in_spell: int = 0  # heals since the check was last healthy (the backoff's n)
    last_heal_at: float | None = None
    escalated: bool = False
    # Reason of the current suppression spell: it ends when a heal runs or flapping ends, so
    # an alternating target is audited once, not once per failure.
    suppressed: Suppression | None = None
    runs: int = 0
    failures_total: int = 0


@dataclass(frozen=True)
class Verdict:
    """What to do after one result. At most one of ``heal``/``suppressed``/``escalate`` is
    about the heal; ``new_suppression`` is True for the first suppression of a spell."""

    status_changed: bool = False
    flapping_changed: bool = False
    in_grace: bool = False
    heal: bool = False
    suppressed: Suppression | None = None
    new_suppression: bool = False
    escalate: bool = False
    next_heal_at: float | None = None


def observe(
    state: CheckState,
    policy: CheckPolicy,
    ok: bool,
    now: float,
    *,
    can_heal: bool = True,
    heal_busy: bool = False,
) -> Verdict:
    """Fold one probe result into ``state``; what to do next.

    ``can_heal`` says whether the check has a heal action; ``heal_busy`` whether that action is
    running for another check right now (then the heal is suppressed as ``in_progress`` and
    not counted against the budget).
    """
    state.runs += 1
    if not ok and state.status is Status.UNKNOWN and now < state.started_at + policy.start_grace:
        return Verdict(in_grace=True)
    if not ok:
        state.failures_total += 1
    flapping_changed = _track_flapping(state, policy, ok, now)
    status_changed = _apply_hysteresis(state, policy, ok)
    base = Verdict(status_changed=status_changed, flapping_changed=flapping_changed)
    if ok or state.status is not Status.FAILING:
        return base
    if not can_heal:
        escalate = not state.escalated
        state.escalated = True
        return replace(base, escalate=escalate)
    _forget_before(state.heals, now - policy.heal_window)
    reason: Suppression | None = None
    escalate = False
    if state.flapping:
        reason = Suppression.FLAPPING
    elif len(state.heals) >= policy.heal_max:
        reason = Suppression.BUDGET
        escalate = not state.escalated
        state.escalated = True
    elif state.last_heal_at is not None and state.heals_in_spell > 0:
        due = state.last_heal_at + policy.heal_delay(state.heals_in_spell)
        if now < due:
            return replace(base, next_heal_at=due)
    if reason is None and heal_busy:
        reason = Suppression.IN_PROGRESS
    if reason is not None:
        new = state.suppressed is not reason
        state.suppressed = reason
        return replace(base, suppressed=reason, new_suppression=new, escalate=escalate)
    state.suppressed = None
    state.heals.append(now)
    state.heals_in_spell += 1
    state.last_heal_at = now
    return replace(base, heal=True, next_heal_at=now + policy.heal_delay(state.heals_in_spell))


def heals_in_window(state: CheckState, policy: CheckPolicy, now: float) -> int:
    """Heals that ran within the last ``heal_window`` seconds (what the budget counts)."""
    return sum(1 for t in state.heals if t > now - policy.heal_window)


def _track_flapping(state: CheckState, policy: CheckPolicy, ok: bool, now: float) -> bool:
    if state.last_ok is not None and state.last_ok != ok:
        state.changes.append(now)
    state.last_ok = ok
    _forget_before(state.changes, now - policy.resolved_flap_window)
    was = state.flapping
    if policy.flap_threshold is None:
        state.flapping = False
    elif not was and len(state.changes) >= policy.flap_threshold:
        state.flapping = True
    elif was and len(state.changes) <= policy.flap_leave_threshold:
        state.flapping = False
        if state.suppressed is Suppression.FLAPPING:
            state.suppressed = None
    return state.flapping != was


def _apply_hysteresis(state: CheckState, policy: CheckPolicy, ok: bool) -> bool:
    if ok:
        state.consecutive_successes += 1
        state.consecutive_failures = 0
        if (
            state.status is not Status.HEALTHY
            and state.consecutive_successes >= policy.success_threshold
        ):
            state.status = Status.HEALTHY
            state.escalated = False
            state.heals_in_spell = 0
            return True
        return False
    state.consecutive_failures += 1
    state.consecutive_successes = 0
    if (
        state.status is not Status.FAILING
        and state.consecutive_failures >= policy.failure_threshold
    ):
        state.status = Status.FAILING
        return True
    return False


def _forget_before(times: deque[float], cutoff: float) -> None:
    while times and times[0] <= cutoff:
        times.popleft()


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number of seconds, got {value}")


def _at_least_one(name: str, value: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"`{name}` must be an integer >= 1, got {value}")
