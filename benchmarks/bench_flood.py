"""The HTTP endpoint under load it must not fall over from, against the plain design it replaced.

Prints one table:

- 200 parallel ``GET /status`` when building the document costs 20 ms and builds run one at a
  time (as asking every session actor does): :class:`StatusServer` (one shared build) against a
  ``ThreadingHTTPServer`` that builds the document for each request (the previous design);
- ``GET /healthz`` on a new connection while 1,100 idle connections are held open, and the
  number of those connections each server still holds afterwards (each one a descriptor and a
  thread): :class:`StatusServer` (at most 64, oldest idle dropped) against the same plain
  server (no bound).

Latencies are medians and p99 in milliseconds; counts are plain numbers. The ratio is ours /
baseline on medians. Usage: ``python benchmarks/bench_flood.py [--quick]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry

from yesman_recovery.actors.http import StatusServer

BUILD_COST = 0.02


def make_status() -> Callable[[], dict[str, Any]]:
    lock = threading.Lock()

    def status() -> dict[str, Any]:
        with lock:
            time.sleep(BUILD_COST)
            return {"healthy": True, "sessions": [{"name": f"agent-{i}"} for i in range(50)]}

    return status


class PlainServer:
    """The previous design: one thread per connection, the document built per request."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = b"ok\n" if self.path == "/healthz" else json.dumps(status()).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def get(port: int, path: str) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - start


def parallel_status(port: int, count: int) -> list[float]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: get(port, "/status"), range(count)))


def held_after_flood(
    port: int, idle: int, rounds: int, open_count: Callable[[], int]
) -> tuple[list[float], int]:
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(idle)]
    try:
        times = [get(port, "/healthz") for _ in range(rounds)]
        time.sleep(0.2)  # let the server close what it drops
        return times, open_count()
    finally:
        for conn in conns:
            conn.close()


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    parallel, idle, rounds = (40, 200, 10) if args.quick else (200, 1100, 100)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * idle + 1024
    if soft < need and (hard == resource.RLIM_INFINITY or hard >= need):
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    ours = StatusServer("127.0.0.1", 0, CollectorRegistry(), lambda: True, make_status())
    ours.start()
    plain = PlainServer(make_status())
    plain_threads = lambda: sum(  # noqa: E731 -- connection threads still alive in the plain server
        1 for t in threading.enumerate() if t.name.startswith("Thread-") and t.is_alive()
    )
    try:
        port = ours.address[1]
        status_ours = parallel_status(port, parallel)
        status_plain = parallel_status(plain.port, parallel)
        flood_ours, held_ours = held_after_flood(port, idle, rounds, lambda: ours.slots.count)
        flood_plain, held_plain = held_after_flood(plain.port, idle, rounds, plain_threads)
    finally:
        ours.stop()
        plain.stop()

    print(f"{parallel} parallel /status, {idle} idle connections; ms (median / p99) or counts")
    base = "baseline: per-request, unbounded"
    header = f"{'measure':<44} {'ours':>15}   {base:<34} {'baseline':>15} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, mine, theirs in (
        (f"{parallel} parallel GET /status", status_ours, status_plain),
        (f"GET /healthz, {idle} idle connections held", flood_ours, flood_plain),
    ):
        m, b = statistics.median(mine), statistics.median(theirs)
        print(
            f"{name:<44} {m * 1e3:7.1f}/{p99(mine) * 1e3:7.1f}   {'':<34} "
            f"{b * 1e3:7.1f}/{p99(theirs) * 1e3:7.1f} {m / b:6.2f}"
        )
    print(
        f"{'idle connections still held afterwards':<44} {held_ours:>15}   {'':<34} "
        f"{held_plain:>15} {held_ours / max(1, held_plain):6.2f}"
    )


if __name__ == "__main__":
    main()
