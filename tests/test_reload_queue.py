"""Reloads are run one at a time and coalesced: a request answered by a later-begun reload."""

from __future__ import annotations

import threading
import time
from typing import Any

from yesman_recovery.reload_queue import ReloadQueue


def test_requests_made_during_a_reload_are_answered_by_one_more_reload() -> None:
    queue = ReloadQueue()
    release = threading.Event()
    runs: list[int] = []

    def reload() -> dict[str, Any]:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            release.wait(10)
        return {"ok": True, "run": len(runs)}

    answers: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: answers.append(queue.run(reload)))
    first.start()
    while not runs:
        time.sleep(0.001)
    waiting = [threading.Thread(target=lambda: answers.append(queue.run(reload))) for _ in range(5)]
    for t in waiting:
        t.start()
    while queue.requested < 6:  # all five are waiting behind the first
        time.sleep(0.001)
    release.set()
    for t in (first, *waiting):
        t.join(10)
    assert runs == [1, 2]  # six requests, two reloads: the second read the files after all five
    assert sorted(a["run"] for a in answers) == [1, 2, 2, 2, 2, 2]
    assert sum(bool(a.get("coalesced")) for a in answers) == 4
    assert queue.run(reload)["run"] == 3  # a request after them all runs again
