"""Coroutine children for the asyncio tests, a loop ticker, and waits that never block a loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from yesman_recovery import aio
from yesman_recovery.supervisors import ChildInfo, ChildSpec, ExitKind, ExitReason, TaskWorker

from .probes import Log


def run(main: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    """Run ``main`` on a fresh event loop, failing (not hanging) after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(main, timeout))


class Commands:
    """What the test tells each coroutine child to do next, by child id (loop thread only)."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[str]] = {}

    def queue(self, child_id: str) -> asyncio.Queue[str]:
        return self._queues.setdefault(child_id, asyncio.Queue())

    def send(self, child_id: str, command: str) -> None:
        self.queue(child_id).put_nowait(command)


class TaskProbe(TaskWorker):
    """A coroutine child that logs like the thread ``Probe`` and does what it is told.

    Commands: ``"crash"`` (raise), ``"return"`` (end normally), ``"exit"`` (raise SystemExit),
    ``"hold"`` (ignore cancellation until told ``"release"``). ``start_failures`` of the shared
    dict makes the next starts fail.
    """

    def __init__(self, log: Log, commands: Commands, plan: dict[str, int] | None = None) -> None:
        self.log = log
        self.commands = commands
        self.plan = plan if plan is not None else {}

    async def on_start(self) -> None:
        if self.plan.get("start_failures", 0) > 0:
            self.plan["start_failures"] -= 1
            self.log.add("start_failed", self.child_id, self.incarnation)
            raise RuntimeError(f"{self.child_id} refuses to start")
        self.log.add("start", self.child_id, self.incarnation)

    async def run(self) -> None:
        queue = self.commands.queue(self.child_id)
        while True:
            command = await queue.get()
            if command == "crash":
                self.log.add("failure", self.child_id, self.incarnation)
                raise RuntimeError(f"{self.child_id} crashed on purpose")
            if command == "exit":
                raise SystemExit(3)
            if command == "return":
                return
            if command == "hold":
                await self._hold(queue)

    async def _hold(self, queue: asyncio.Queue[str]) -> None:
        while True:
            try:
                if await queue.get() == "release":
                    return
            except asyncio.CancelledError:
                self.log.add("ignored_cancel", self.child_id, self.incarnation)

    async def on_exit(self, reason: ExitReason) -> None:
        if reason.kind is ExitKind.SHUTDOWN:
            self.log.add("stop", self.child_id, self.incarnation)


def task_probe(child_id: str, log: Log, commands: Commands, **options: Any) -> ChildSpec:
    """A ChildSpec of a :class:`TaskProbe` on the running loop."""
    plan = options.pop("plan", None)
    return ChildSpec(child_id, TaskProbe, args=(log, commands, plan), **options)


class Ticker:
    """Counts the loop's turns: a task that wakes every ``period`` seconds while it runs."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.ticks += 1


async def children_of(sup: Any) -> dict[str, ChildInfo]:
    infos: list[ChildInfo] = await aio.get(sup.proxy().which_children(), 5)
    return {info.id: info for info in infos}


async def eventually(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0, what: str = ""
) -> None:
    """Await ``predicate()`` until true, yielding to the loop between tries."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.002)


async def running(sup: Any, child_id: str, incarnation: int) -> None:
    """Wait until ``child_id`` runs its incarnation ``incarnation`` (or later)."""

    async def ok() -> bool:
        info = (await children_of(sup)).get(child_id)
        return info is not None and info.state == "running" and info.incarnation >= incarnation

    await eventually(ok, what=f"{child_id} incarnation {incarnation} running")
