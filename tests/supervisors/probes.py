"""Test actors that record what happens to them, and the waits the tests synchronise on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from yesman_recovery import ChildSpec, Restart, SupervisedActor, Supervisor
from yesman_recovery.supervisors import ChildInfo, SupervisedRef


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        pause.wait(0.002)


class Log:
    """A thread-safe list of events appended by test actors: ``(what, child_id, incarnation)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, str, int]] = []
        self.threads: list[threading.Thread] = []  # the thread of every incarnation started

    def add(self, what: str, child_id: str, incarnation: int) -> None:
        with self._lock:
            self._events.append((what, child_id, incarnation))

    def events(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._events)

    def ids(self, what: str) -> list[str]:
        """Child ids of every ``what`` event, in the order they happened."""
        return [cid for w, cid, _ in self.events() if w == what]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


@dataclass
class Plan:
    """Behaviour shared by every incarnation of a :class:`Probe` (mutable between starts)."""

    start_failures: int = 0  # how many of the next starts raise in on_start
    start_gate: threading.Event | None = None  # on_start waits for it (up to 30 s)
    stop_error: BaseException | None = None  # raised by on_stop
    stop_delay: float = 0.0  # on_stop takes this long (a window for stop() to return early)
    release: threading.Event = field(default_factory=threading.Event)  # ends a `block`
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_start_failure(self) -> bool:
        with self.lock:
            if self.start_failures > 0:
                self.start_failures -= 1
                return True
            return False


class Probe(SupervisedActor):
    """A worker that logs start/stop and does what its messages say.

    Messages sent with ``tell``: ``"crash"`` (raise RuntimeError), ``"exit"`` (raise
    SystemExit), ``"interrupt"`` (KeyboardInterrupt), ``"stop_self"``, ``"block"`` (wait for
    ``plan.release``, ignoring stop meanwhile).
    """

    def __init__(self, log: Log, plan: Plan | None = None) -> None:
        super().__init__()
        self.log = log
        self.plan = plan or Plan()

    def on_start(self) -> None:
        with self.log._lock:
            self.log.threads.append(threading.current_thread())
        if self.plan.start_gate is not None:
            self.plan.start_gate.wait(30)
        if self.plan.take_start_failure():
            self.log.add("start_failed", self.child_id, self.incarnation)
            raise RuntimeError(f"{self.child_id} refuses to start")
        self.log.add("start", self.child_id, self.incarnation)

    def on_stop(self) -> None:
        if self.plan.stop_delay:
            threading.Event().wait(self.plan.stop_delay)
        self.log.add("stop", self.child_id, self.incarnation)
        if self.plan.stop_error is not None:
            raise self.plan.stop_error

    def on_failure(self, *exc_info: Any) -> None:
        self.log.add("failure", self.child_id, self.incarnation)

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"{self.child_id} crashed on purpose")
        if message == "exit":
            raise SystemExit(3)
        if message == "interrupt":
            raise KeyboardInterrupt
        if message == "stop_self":
            self.stop()
            return None
        if message == "block":
            self.plan.release.wait(30)
            return None
        return super().on_receive(message)

    def ping(self) -> int:
        return self.incarnation

    def boom(self) -> None:
        raise ValueError("boom answered to the caller")


def probe(child_id: str, log: Log, plan: Plan | None = None, **options: Any) -> ChildSpec:
    """A :class:`ChildSpec` of a :class:`Probe`."""
    return ChildSpec(child_id, Probe, args=(log, plan or Plan()), **options)


def sup_spec(child_id: str, *children: ChildSpec, **options: Any) -> ChildSpec:
    """A :class:`ChildSpec` of a nested :class:`Supervisor` (kwargs go to the supervisor)."""
    restart = options.pop("restart", Restart.PERMANENT)
    return ChildSpec(
        child_id, Supervisor, kwargs={"children": list(children), **options}, restart=restart
    )


def children(sup: pykka.ActorRef[Any], timeout: float = 5.0) -> dict[str, ChildInfo]:
    """``which_children()`` of ``sup`` keyed by id."""
    infos: list[ChildInfo] = sup.proxy().which_children().get(timeout=timeout)
    return {info.id: info for info in infos}


def current(sup: pykka.ActorRef[Any], child_id: str, timeout: float = 5.0) -> SupervisedRef:
    """The running ref of ``child_id`` (fails the test if it is not running)."""
    ref: SupervisedRef | None = sup.proxy().whereis(child_id).get(timeout=timeout)
    assert ref is not None, f"{child_id} is not running"
    return ref


def wait_incarnation(sup: pykka.ActorRef[Any], child_id: str, n: int, timeout: float = 5.0) -> None:
    """Wait until ``child_id`` runs its incarnation ``n`` (or a later one)."""

    def running() -> bool:
        info = children(sup).get(child_id)
        return info is not None and info.state == "running" and info.incarnation >= n

    wait_until(running, timeout, f"{child_id} incarnation {n} running")
