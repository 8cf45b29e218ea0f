"""``on_exit`` runs once on every exit path, so nothing an actor holds outlives it."""

from __future__ import annotations

from typing import Any

import pytest

from yesman_recovery import ChildSpec, SupervisedActor, Supervisor
from yesman_recovery.errors import StartError
from yesman_recovery.supervisors import ExitKind, ExitReason

from .conftest import StartTree
from .probes import Log, probe, wait_until


class Holder(SupervisedActor):
    """Records every on_exit it gets; optionally fails its start."""

    def __init__(self, exits: list[ExitReason], fail_start: bool = False) -> None:
        super().__init__()
        self.exits = exits
        self.fail_start = fail_start

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError("no resource")

    def on_exit(self, reason: ExitReason) -> None:
        self.exits.append(reason)

    def on_receive(self, message: Any) -> Any:
        raise RuntimeError(f"told {message!r}")

    def interrupt(self) -> None:
        raise SystemExit(2)


@pytest.mark.parametrize(
    ("how", "kind"),
    [("stop", ExitKind.SHUTDOWN), ("crash", ExitKind.CRASHED), ("ask", ExitKind.CRASHED)],
)
def test_on_exit_runs_once_on_each_path(how: str, kind: ExitKind) -> None:
    exits: list[ExitReason] = []
    ref = Holder.start(exits)
    if how == "stop":
        ref.shutdown(5)
    elif how == "crash":
        ref.tell("boom")
        ref.wait_exit(5)
    else:
        with pytest.raises(Exception, match="SystemExit"):
            ref.proxy().interrupt().get(timeout=5)
        ref.wait_exit(5)
    assert [r.kind for r in exits] == [kind]


def test_on_exit_runs_when_on_start_fails() -> None:
    exits: list[ExitReason] = []
    with pytest.raises(StartError):
        Holder.start(exits, fail_start=True)
    assert [r.kind for r in exits] == [ExitKind.START_FAILED]


class Interruptible(Supervisor):
    def interrupt(self) -> None:
        raise SystemExit(1)


def test_a_supervisor_interrupted_in_an_ask_stops_its_children(
    start_tree: StartTree, log: Log
) -> None:
    root = start_tree(
        ChildSpec(
            "mid",
            Interruptible,
            kwargs={"children": [probe("a", log), probe("b", log)]},
        )
    )
    mid = root.proxy().whereis("mid").get(timeout=5)
    with pytest.raises(Exception, match="SystemExit"):
        mid.proxy().interrupt().get(timeout=5)
    # The children of the interrupted incarnation stop (b, then a) before it is replaced.
    wait_until(lambda: log.ids("stop")[:2] == ["b", "a"], what="children stopped")
    wait_until(lambda: log.ids("start").count("a") == 2, what="mid restarted with its children")
