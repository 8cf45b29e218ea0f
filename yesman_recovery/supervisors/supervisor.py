"""The ``Supervisor`` actor: starts children, restarts them on exit, gives up when it must.

OTP's ``supervisor`` made exact for Pykka. State is two records: :class:`_Child` per child and
the supervisor's own fields. All of it is owned by the supervisor's thread; callers reach it only
through messages (``ref.proxy().which_children()`` and friends).

One child exit runs a pipeline of small named steps (:meth:`Supervisor._on_exit`):
decide (:func:`should_restart`) → count intensity (:class:`IntensityWindow`) → stop the rest of the
group in reverse order (:func:`affected_children`) → start the group in order, now or after a
backoff delay delivered by the scheduler. A restart that fails to start is retried by a message to
self (OTP's ``try_again_restart``) and counts toward intensity, so the supervisor keeps answering
calls while a child cannot start. Over the intensity limit, the supervisor stops every child in
reverse start order and crashes with :class:`RestartIntensityExceeded`, which its own supervisor
sees as the crash of a child: escalation.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from yesman_recovery.errors import RestartIntensityExceeded, StartError, SupervisorError
from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics
from yesman_recovery.metrics.series import prime_supervisor
from yesman_recovery.supervisors.actor import (
    ChildExited,
    ChildRef,
    SupervisedActor,
    SupervisionLink,
    SyncWithSupervisor,
    await_start,
    running_loop,
)
from yesman_recovery.supervisors.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.supervisors.introspection import (
    ChildCounts,
    ChildInfo,
    ChildState,
    describe_tree,
)
from yesman_recovery.supervisors.restart import (
    ExitKind,
    ExitReason,
    IntensityWindow,
    affected_children,
    should_restart,
)
from yesman_recovery.supervisors.scheduler import Cancellable, Scheduler, default_scheduler
from yesman_recovery.supervisors.spec import ChildSpec, Restart, Strategy

__all__ = ["ChildCounts", "ChildInfo", "ChildState", "Supervisor", "describe_tree"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _RestartDue:
    """Message to self: (re)start these children now.

    ``tokens`` holds each child's token when the restart was scheduled: a child whose token has
    moved on since (its pending restart was cancelled or superseded) is skipped, the others
    still restart.
    """

    ids: tuple[str, ...]
    tokens: tuple[int, ...]
    reason: str  # why ``failed`` restarts; the others in ``ids`` restart as its siblings
    failed: str


class _Child:
    """Runtime record of one child; owned by the supervisor's thread."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.ref: ChildRef | None = None  # set iff state is RUNNING
        self.link: SupervisionLink | None = None  # link of the current incarnation
        self.incarnation = 0
        self.state = ChildState.STOPPED
        self.restarts = 0
        self.started_at: float | None = None  # monotonic; set iff state is RUNNING
        self.last_exit: ExitReason | None = None
        self.backoff_n = 0  # consecutive backoff restarts; reset after `reset_after` of uptime
        self.timer: Cancellable | None = None  # pending restart, if any; shared by its group
        self.token = 0  # incremented whenever a pending restart is invalidated

    @property
    def is_supervisor(self) -> bool:
        return _is_supervisor(self.spec.start)


class Supervisor(SupervisedActor):
    """An Erlang/OTP-style supervisor as a Pykka actor.

    ``Supervisor.start(children=[...], strategy=..., max_restarts=3, max_seconds=5.0)`` starts
    every child in order and returns once each has finished ``on_start`` (raising
    :class:`StartError` if one failed). The returned ref's ``proxy()`` reaches the dynamic
    operations (:meth:`start_child`, :meth:`terminate_child`, :meth:`restart_child`,
    :meth:`delete_child`) and introspection (:meth:`which_children`, :meth:`count_children`,
    :meth:`whereis`). Use the ref as a context manager, or call ``ref.shutdown()``, to stop the
    tree in reverse start order.

    ``clock`` and ``scheduler`` are injected for tests (a :class:`ManualClock` with a
    :class:`ManualScheduler` makes windows and backoff deterministic); ``metrics`` defaults to the
    process-wide :func:`default_metrics`; ``rng`` draws backoff jitter.

    Children may be actors (threads) and coroutines (tasks on an event loop) in any mix; see
    :class:`ChildSpec`.
    """

    default_shutdown = None  # its children are each bounded, so its stop is bounded too
    default_start_timeout = 300.0  # it starts every child in its on_start

    def __init__(
        self,
        children: Iterable[ChildSpec] = (),
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        *,
        name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
        metrics: RecoveryMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.strategy = _strategy(strategy)
        if isinstance(children, str | ChildSpec) or not isinstance(children, Iterable):
            raise TypeError(f"`children` must be an iterable of ChildSpec, got {children!r}")
        self._intensity = IntensityWindow(max_restarts, max_seconds)
        self._children: list[_Child] = []  # in start order
        for spec in children:
            self._add_spec(spec)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"`name` must be a str or None, got {name!r}")
        self._name = name
        self._clock = clock
        self._scheduler = scheduler if scheduler is not None else default_scheduler()
        self._metrics = metrics if metrics is not None else default_metrics()
        self._rng = rng or random.Random()
        self._primed: set[str] = set()  # child ids whose metric series exist (actor thread)

    @property
    def name(self) -> str:
        """The label of this supervisor in logs and metrics: ``name``, else its child id."""
        if self._name is not None:
            return self._name
        return self._supervision.child_id if self._supervision.supervisor else "root"

    # --- lifecycle (supervisor thread) ----------------------------------------------------

    def on_start(self) -> None:
        started: list[_Child] = []
        for child in self._children:
            if not self._start(child):
                for done in reversed(started):
                    self._terminate(done)
                self._publish()
                raise StartError(
                    f"supervisor {self.name!r}: child {child.spec.id!r} failed to start: "
                    f"{child.last_exit}"
                ) from (child.last_exit.error if child.last_exit else None)
            started.append(child)
        self._publish()

    def on_exit(self, reason: ExitReason) -> None:
        # However the supervisor ends (stopped, gave up, crashed, interrupted), it must not
        # leave orphans running: stop every child in reverse start order.
        self._terminate_all()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self._on_exit(message)
        elif isinstance(message, _RestartDue):
            self._on_restart_due(message)
        elif not isinstance(message, SyncWithSupervisor):  # answered by being handled
            return super().on_receive(message)
        return None

    @classmethod
    def check_blocking_start(cls, kwargs: dict[str, Any]) -> None:
        loop = running_loop()
        if loop is not None and _has_task_child_on(loop, kwargs.get("children", ())):
            raise RuntimeError(
                "Supervisor.start() would block the event loop its coroutine children run on, "
                "and they need it to start: `await yesman_recovery.aio.start(Supervisor, ...)`"
            )

    # --- public operations (called through ref.proxy(); run in the supervisor thread) -----

    def start_child(self, spec: ChildSpec) -> ChildRef:
        """Add ``spec`` and start it; raises :class:`StartError` (spec not kept) if it fails."""
        if not isinstance(spec, ChildSpec):
            raise TypeError(f"start_child expects a ChildSpec, got {spec!r}")
        if self._find(spec.id) is not None:
            raise SupervisorError(f"supervisor {self.name!r} already has a child {spec.id!r}")
        child = self._add_spec(spec)
        if not self._start(child):
            self._children.remove(child)
            self._publish()
            raise StartError(f"child {spec.id!r} failed to start: {child.last_exit}")
        self._publish()
        assert child.ref is not None
        return child.ref

    def terminate_child(self, child_id: str) -> None:
        """Stop a child and keep its spec, unless ``temporary``.

        A child waiting for a restart (``restarting``) has its pending restart cancelled and
        becomes ``stopped``, as in OTP.
        """
        child = self._require(child_id, "terminate_child")
        self._cancel_restart(child)
        self._terminate(child)
        if child.spec.restart is Restart.TEMPORARY:
            self._children.remove(child)
        self._publish()

    def restart_child(self, child_id: str) -> ChildRef:
        """Start a stopped child again; raises if it fails (it stays stopped).

        Refused for a ``running`` child and for a ``restarting`` one (OTP's
        ``{error, restarting}``): its pending restart stays, so it is still supervised.
        """
        child = self._require(child_id, "restart_child")
        if child.state is ChildState.RUNNING:
            raise SupervisorError(f"child {child_id!r} of {self.name!r} is already running")
        self._refuse_restarting(child, "restart_child")
        ok = self._start(child)
        if not ok:
            # Nothing retries a manual restart: the child stays stopped until asked again.
            child.state = ChildState.STOPPED
        self._publish()
        if not ok:
            raise StartError(f"child {child_id!r} failed to start: {child.last_exit}")
        assert child.ref is not None
        return child.ref

    def delete_child(self, child_id: str) -> None:
        """Forget a ``stopped`` child (call :meth:`terminate_child` first).

        Refused for a ``running`` or ``restarting`` child, as in OTP.
        """
        child = self._require(child_id, "delete_child")
        if child.state is ChildState.RUNNING:
            raise SupervisorError(
                f"child {child_id!r} of {self.name!r} is running; terminate_child it first"
            )
        self._refuse_restarting(child, "delete_child")
        self._children.remove(child)
        self._publish()

    def _refuse_restarting(self, child: _Child, call: str) -> None:
        if child.state is ChildState.RESTARTING:
            raise SupervisorError(
                f"child {child.spec.id!r} of {self.name!r} is restarting (waiting for a backoff "
                f"delay or a retry); it restarts by itself — terminate_child it first to {call} "
                f"it now"
            )

    def which_children(self) -> list[ChildInfo]:
        """Every child in start order with its state, incarnation, restarts and uptime."""
        now = self._clock.monotonic()
        return [
            ChildInfo(
                id=c.spec.id,
                state=c.state,
                incarnation=c.incarnation,
                restarts=c.restarts,
                uptime=None if c.started_at is None else max(0.0, now - c.started_at),
                last_exit=None if c.last_exit is None else str(c.last_exit),
                is_supervisor=c.is_supervisor,
                ref=c.ref,
            )
            for c in self._children
        ]

    def count_children(self) -> ChildCounts:
        sups = sum(1 for c in self._children if c.is_supervisor)
        return ChildCounts(
            specs=len(self._children),
            active=sum(1 for c in self._children if c.state is ChildState.RUNNING),
            supervisors=sups,
            workers=len(self._children) - sups,
        )

    def whereis(self, child_id: str) -> ChildRef | None:
        """The current ref of a running child, or None (unknown id or not running)."""
        _check_id(child_id, "whereis")
        child = self._find(child_id)
        return child.ref if child is not None else None

    # --- the restart pipeline --------------------------------------------------------------

    def _on_exit(self, msg: ChildExited) -> None:
        child = self._find(msg.child_id)
        if (
            child is None
            or child.incarnation != msg.incarnation
            or child.state is not ChildState.RUNNING
        ):
            logger.debug("ignoring stale exit of %s#%d", msg.child_id, msg.incarnation)
            return
        child.ref = None
        uptime = self._clock.monotonic() - (child.started_at or 0.0)
        child.started_at = None
        child.last_exit = msg.reason
        log = logger.warning if msg.reason.abnormal else logger.info
        log(
            "child exited",
            extra={"supervisor": self.name, "child": child.spec.id, "reason": str(msg.reason)},
        )
        if child.spec.restart is Restart.TEMPORARY:
            self._children.remove(child)
        elif not should_restart(child.spec.restart, msg.reason):
            child.state = ChildState.STOPPED
        else:
            self._restart(child, msg.reason.kind.value, uptime)
        self._publish()

    def _restart(self, child: _Child, reason: str, uptime: float) -> None:
        self._check_intensity()
        group = [self._require(cid) for cid in self._group_of(child)]
        for other in reversed(group):
            if other is not child:
                self._cancel_restart(other)
                self._terminate(other)
                if other.spec.restart is Restart.TEMPORARY:
                    # OTP: a temporary child stopped by a group restart is removed, never
                    # restarted.
                    self._children.remove(other)
        group = [m for m in group if m in self._children]
        delay = self._backoff_delay(child, uptime)
        for member in group:
            member.state = ChildState.RESTARTING
        self._schedule_restart(group, delay, reason, child.spec.id)

    def _on_restart_due(self, msg: _RestartDue) -> None:
        members = [
            c
            for cid, token in zip(msg.ids, msg.tokens, strict=True)
            if (c := self._find(cid)) is not None
            and c.state is ChildState.RESTARTING
            and c.token == token
        ]
        if not members:
            return  # cancelled, deleted or superseded meanwhile
        for i, member in enumerate(members):
            member.timer = None
            why = msg.reason if member.spec.id == msg.failed else "sibling"
            if not self._start(member):
                # OTP's try_again_restart: count it, then retry by a message to self, so the
                # supervisor stays responsive while a child cannot start. one_for_all retries
                # the whole group: the members started meanwhile are stopped again first;
                # rest_for_one (and one_for_one) retry from the child that failed.
                self._publish()
                self._check_intensity()
                retry = members[i:]
                if self.strategy is Strategy.ONE_FOR_ALL:
                    for started in reversed(members[:i]):
                        self._terminate(started)
                    retry = members
                delay = self._backoff_delay(member, 0.0)
                self._schedule_restart(retry, delay, ExitKind.START_FAILED.value, member.spec.id)
                return
            member.restarts += 1
            self._metrics.child_restarts.labels(self.name, member.spec.id, why).inc()
        self._publish()

    def _check_intensity(self) -> None:
        if self._intensity.record(self._clock.monotonic()):
            self._metrics.restart_intensity_exceeded.labels(self.name).inc()
            logger.error(
                "restart intensity exceeded: giving up",
                extra={"supervisor": self.name, "child": None, "reason": "intensity"},
            )
            # Raising from a tell handler crashes this supervisor: on_failure stops the children
            # in reverse order and the parent hears a crash (escalation).
            raise RestartIntensityExceeded(
                f"supervisor {self.name!r}: more than {self._intensity.max_restarts} restarts "
                f"in {self._intensity.max_seconds} s"
            )

    def _group_of(self, child: _Child) -> list[str]:
        order = [c.spec.id for c in self._children if c.state is not ChildState.STOPPED]
        if child.spec.id not in order:
            order.append(child.spec.id)
        return affected_children(self.strategy, order, child.spec.id)

    def _backoff_delay(self, child: _Child, uptime: float) -> float:
        backoff = child.spec.backoff
        if backoff is None:
            return 0.0
        if uptime >= backoff.reset_after:
            child.backoff_n = 0
        child.backoff_n += 1
        return backoff.delay(child.backoff_n, self._rng)

    def _schedule_restart(
        self, group: Sequence[_Child], delay: float, reason: str, failed: str
    ) -> None:
        for member in group:
            member.state = ChildState.RESTARTING
            member.token += 1
        ids, tokens = tuple(m.spec.id for m in group), tuple(m.token for m in group)
        msg = _RestartDue(ids, tokens, reason, failed)
        timer: Cancellable | None = None
        if delay > 0:
            timer = self._scheduler.call_later(delay, self.actor_ref, msg)
        else:
            self.actor_ref.tell(msg)
        for member in group:
            member.timer = timer

    # --- starting and stopping one child --------------------------------------------------

    def _start(self, child: _Child) -> bool:
        """Start one incarnation and wait for its on_start; False (and last_exit) on failure."""
        child.incarnation += 1
        link = SupervisionLink(self.actor_ref, child.spec.id, child.incarnation)
        try:
            ref = _spawn(child.spec, link)
            await_start(ref, link, child.spec.start_timeout)
        except Exception as exc:  # __init__ raised, on_start raised or timed out
            child.last_exit = ExitReason(ExitKind.START_FAILED, exc.__cause__ or exc)
            child.state = ChildState.RESTARTING
            logger.warning(
                "child failed to start",
                extra={"supervisor": self.name, "child": child.spec.id, "reason": repr(exc)},
            )
            return False
        child.ref, child.link = ref, link
        child.state = ChildState.RUNNING
        child.started_at = self._clock.monotonic()
        return True

    def _terminate(self, child: _Child) -> None:
        """Stop a running child within its ``shutdown`` seconds, abandoning it after that."""
        if child.state is ChildState.RUNNING and child.ref is not None and child.link:
            if child.ref.shutdown(child.spec.shutdown):
                child.last_exit = child.link.reason
            else:
                child.last_exit = ExitReason(ExitKind.SHUTDOWN, TimeoutError("abandoned"))
                self._metrics.children_abandoned.labels(self.name).inc()
                logger.error(
                    "child did not stop within its shutdown timeout; abandoned",
                    extra={"supervisor": self.name, "child": child.spec.id, "reason": "abandoned"},
                )
        child.ref = None
        child.started_at = None
        child.state = ChildState.STOPPED

    def _terminate_all(self) -> None:
        for child in reversed(self._children):
            self._cancel_restart(child)
            self._terminate(child)
        self._publish()

    def _cancel_restart(self, child: _Child) -> None:
        child.token += 1
        timer, child.timer = child.timer, None
        # The timer is shared by the child's restart group: the others may still wait on it.
        if timer is not None and not any(c.timer is timer for c in self._children):
            timer.cancel()
        if child.state is ChildState.RESTARTING:
            child.state = ChildState.STOPPED

    # --- bookkeeping ----------------------------------------------------------------------

    def _add_spec(self, spec: ChildSpec) -> _Child:
        if not isinstance(spec, ChildSpec):
            raise TypeError(f"`children` must be ChildSpec instances, got {spec!r}")
        if not spec.runs_as_task and not (
            isinstance(spec.start, type) and issubclass(spec.start, SupervisedActor)
        ):
            raise TypeError(
                f"child {spec.id!r}: `start` must be a SupervisedActor subclass, a TaskWorker "
                f"subclass or an async function, got {spec.start!r}"
            )
        if self._find(spec.id) is not None:
            raise SupervisorError(f"duplicate child id {spec.id!r}")
        child = _Child(spec)
        self._children.append(child)
        return child

    def _find(self, child_id: str) -> _Child | None:
        for child in self._children:
            if child.spec.id == child_id:
                return child
        return None

    def _require(self, child_id: str, call: str = "") -> _Child:
        if call:
            _check_id(child_id, call)
        child = self._find(child_id)
        if child is None:
            known = [c.spec.id for c in self._children]
            raise SupervisorError(
                f"supervisor {self.name!r} has no child {child_id!r}; it has {known}"
            )
        return child

    def _publish(self) -> None:
        # Each child's restart counters exist at 0 from its first publish, so increase()
        # sees its first restart; primed once per child id. Temporary children never restart
        # and may be countless (one per transaction): they get no series.
        fresh = [
            c.spec.id
            for c in self._children
            if c.spec.restart is not Restart.TEMPORARY and c.spec.id not in self._primed
        ]
        if fresh or not self._primed:
            prime_supervisor(self._metrics, self.name, fresh)
            self._primed.update(fresh)
        # One pass over the children (a dynamic supervisor may hold hundreds), then one set
        # per state.
        counts = Counter(c.state for c in self._children)
        gauge = self._metrics.supervisor_children
        for state in ChildState:
            gauge.labels(self.name, state.value).set(counts[state])


def _check_id(child_id: object, call: str) -> None:
    if not isinstance(child_id, str):
        raise TypeError(f"{call} expects a child id, got {child_id!r}: child ids are strings")


def _is_supervisor(start: object) -> bool:
    return isinstance(start, type) and issubclass(start, Supervisor)


def _strategy(strategy: str) -> Strategy:
    try:
        return Strategy(strategy)
    except ValueError:
        allowed = ", ".join(s.value for s in Strategy)
        raise ValueError(f"`strategy` must be one of {allowed}; got {strategy!r}") from None


def _spawn(spec: ChildSpec, link: SupervisionLink) -> ChildRef:
    """Start one incarnation of ``spec``: an actor thread, or a task on the spec's loop."""
    if spec.runs_as_task:
        from yesman_recovery.supervisors.tasks import spawn_task

        return spawn_task(spec, link)
    start = spec.start
    assert isinstance(start, type)
    assert issubclass(start, SupervisedActor)
    return start.spawn(link, spec.args, dict(spec.kwargs))


def _has_task_child_on(loop: object, specs: Iterable[Any]) -> bool:
    """Whether ``specs`` (or the children of a supervisor among them) run a task on ``loop``."""
    for spec in specs if isinstance(specs, Iterable) else ():
        if not isinstance(spec, ChildSpec):
            continue
        if spec.loop is loop:
            return True
        nested = spec.kwargs.get("children", ())
        if _is_supervisor(spec.start) and _has_task_child_on(loop, nested):
            return True
    return False
