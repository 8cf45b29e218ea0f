"""The HTTP endpoint cannot be starved: read timeouts, a bound on connections that drops the
oldest idle one (never a busy one), and /status served from one shared build."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from yesman_recovery.actors.http import StatusServer

STATUS = {"healthy": True, "sessions": []}


@pytest.fixture
def servers() -> Iterator[list[StatusServer]]:
    started: list[StatusServer] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[StatusServer], status: Any = lambda: STATUS, **kwargs: Any) -> StatusServer:
    server = StatusServer("127.0.0.1", 0, CollectorRegistry(), lambda: True, status, **kwargs)
    server.start()
    servers.append(server)
    return server


def get(url: str, timeout: float = 10.0) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        response.read()
        return response.status, time.monotonic() - started


def connect(server: StatusServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=10)


def closed_by_server(conn: socket.socket, within: float) -> bool:
    conn.settimeout(within)
    try:
        return conn.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_silent_connection_is_closed_after_the_read_timeout(servers: list[StatusServer]) -> None:
    server = start(servers, read_timeout=0.3)
    silent = connect(server)
    half = connect(server)
    half.sendall(b"GET /status HTTP/1.1\r\n")
    assert closed_by_server(silent, within=5.0)
    assert closed_by_server(half, within=5.0)
    assert get(server.url + "/healthz")[0] == 200


def test_idle_connections_past_the_bound_drop_the_oldest(servers: list[StatusServer]) -> None:
    server = start(servers, max_connections=4)
    idle = [connect(server) for _ in range(10)]
    try:
        for _ in range(20):  # a real request always gets through
            assert get(server.url + "/status", timeout=2.0)[0] == 200
        assert server.slots.count <= 4
        assert all(closed_by_server(conn, within=5.0) for conn in idle[:6])
    finally:
        for conn in idle:
            conn.close()


def test_a_busy_connection_is_never_dropped(servers: list[StatusServer]) -> None:
    gate = threading.Event()

    def slow_status() -> dict[str, Any]:
        gate.wait(10)
        return STATUS

    server = start(servers, status=slow_status, max_connections=2, call_timeout=10.0)
    with ThreadPoolExecutor(4) as pool:
        waiting = [pool.submit(get, server.url + "/status") for _ in range(2)]
        time.sleep(0.3)  # let both requests be read; they now wait for the build
        extra = [pool.submit(get, server.url + "/healthz") for _ in range(2)]
        time.sleep(0.3)
        assert not any(f.done() for f in waiting + extra), "the extra requests queue"
        gate.set()
        assert [f.result(timeout=10)[0] for f in waiting + extra] == [200] * 4


def test_200_parallel_status_requests_share_one_build(servers: list[StatusServer]) -> None:
    lock = threading.Lock()

    def status() -> dict[str, Any]:
        with lock:  # as asking every actor is: one at a time, tens of milliseconds
            time.sleep(0.05)
            return STATUS

    # Room for all 200 (the cap and its evictions have their own tests): this one is about the
    # shared build.
    server = start(servers, status=status, max_connections=256)
    with ThreadPoolExecutor(200) as pool:
        answers = list(pool.map(lambda _: get(server.url + "/status", 10.0), range(200)))
    times = sorted(took for _, took in answers)
    assert [code for code, _ in answers] == [200] * 200
    assert times[-1] < 5.0
    assert statistics.median(times) < 1.0
    assert server.status_cache.builds <= 5


def test_a_stale_document_is_served_while_a_slow_build_runs(servers: list[StatusServer]) -> None:
    calls = []

    def status() -> dict[str, Any]:
        calls.append(1)
        if len(calls) > 1:
            time.sleep(2.0)  # a session busy restoring
        return {"n": len(calls)}

    server = start(servers, status=status, status_max_age=0.1)
    assert get(server.url + "/status")[0] == 200
    time.sleep(0.2)
    code, took = get(server.url + "/status")
    assert code == 200
    assert took < 1.0


def test_tmux_calls_fall_back_on_the_descriptor_reserve() -> None:
    script = """
import os, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from yesman_recovery.tmux.client import RESERVE, TmuxClient
from yesman_recovery.errors import TmuxServerGone
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
try:
    TmuxClient(socket_name="yr-reserve-test-none").run("list-sessions")
except TmuxServerGone:
    print("ran tmux")
print("reserve", RESERVE.held)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert "ran tmux" in out.stdout, out.stderr


def test_the_flood_benchmark_runs_in_quick_mode() -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_flood.py"
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    assert "parallel GET /status" in out.stdout
    assert "idle connections still held afterwards" in out.stdout
