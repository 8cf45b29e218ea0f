"""call_with_timeout: the result, the call's own error, or a TimeoutError naming the call."""

from __future__ import annotations

import threading
import time

import pytest

from yesman_recovery.timeouts import call_with_timeout


def test_the_result_or_the_calls_own_error_comes_back() -> None:
    assert call_with_timeout(lambda: 42, 1.0) == 42
    assert call_with_timeout(lambda: None, 1.0) is None
    with pytest.raises(KeyError):
        call_with_timeout(lambda: dict[str, int]()["missing"], 1.0)


def test_a_call_past_its_timeout_is_named_and_left_to_finish_alone() -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck() -> str:
        release.wait(10)
        finished.set()
        return "late"

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^deploy did not finish within 0.2 s$"):
        call_with_timeout(stuck, 0.2, what="deploy", thread="step tx-1:0")
    assert time.monotonic() - started < 5  # the caller did not wait for the call
    assert [t.name for t in threading.enumerate() if t.name == "step tx-1:0"] == ["step tx-1:0"]
    release.set()
    assert finished.wait(10)  # the thread ran on and ended by itself
