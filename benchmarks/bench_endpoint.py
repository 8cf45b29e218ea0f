"""Cost of the HTTP endpoint and of loading the configuration, with baselines in the same run.

Prints one table:

- ``GET /metrics`` of the daemon's real metric set (every metric of :class:`RecoveryMetrics`,
  the series created at start, the process collectors, label values for 50 sessions) from
  :class:`StatusServer`, against ``prometheus_client.start_http_server`` serving the same
  registry, in the classic text format, as OpenMetrics and gzipped;
- ``GET /healthz`` and ``GET /status`` (a 50-session tree) from :class:`StatusServer`, against the
  same baseline's ``/metrics`` of an empty registry (the least a request costs there);
- loading the example configuration (``examples/yesman-recovery.toml``) with full validation,
  against ``tomllib.load`` of the same file.

Every request opens a new connection, as a Prometheus scrape does. Medians and p99 in
milliseconds; the ratio is ours / baseline on medians.

Usage: ``python benchmarks/bench_endpoint.py [--quick]`` (``--quick``: a smoke run in seconds).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from yesman_recovery.actors.http import StatusServer
from yesman_recovery.actors.series import prime_daemon_series
from yesman_recovery.config import load_config
from yesman_recovery.metrics.definitions import RecoveryMetrics

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "yesman-recovery.toml"
SESSIONS = 50


def populated_registry() -> CollectorRegistry:
    """The daemon's metrics with a label set per session, as a busy host would have them."""
    metrics = RecoveryMetrics()
    prime_daemon_series(metrics)
    for i in range(SESSIONS):
        metrics.child_restarts.labels(
            supervisor="sessions", child=f"agent-{i}", reason="crash"
        ).inc()
    return metrics.registry


def status_document() -> dict[str, Any]:
    def node(name: str, kind: str = "worker") -> dict[str, Any]:
        return {
            "id": name, "kind": kind, "state": "running", "incarnation": 1, "restarts": 0,
            "uptime_seconds": 12.5, "last_exit": None,
        }  # fmt: skip

    sessions = node("sessions", "supervisor")
    sessions["children"] = [node(f"agent-{i}") for i in range(SESSIONS)]
    root = node("root", "supervisor")
    root["children"] = [node("metrics"), node("storage"), sessions]
    return {"version": "0.1.0", "healthy": True, "tree": root}


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    fn()  # warm up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}
GZIP = {"Accept-Encoding": "gzip"}


def getter(port: int, path: str, headers: dict[str, str] | None = None) -> Callable[[], bytes]:
    def get() -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
            return body
        finally:
            conn.close()

    return get


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds")
    args = parser.parse_args()
    rounds = 30 if args.quick else 1000

    registry = populated_registry()
    document = status_document()
    ours = StatusServer("127.0.0.1", 0, registry, lambda: True, lambda: document)
    ours.start()
    baseline_server, baseline_thread = start_http_server(0, "127.0.0.1", registry=registry)
    empty_server, empty_thread = start_http_server(0, "127.0.0.1", registry=CollectorRegistry())
    try:
        port = ours.address[1]
        base_port = baseline_server.server_address[1]
        empty_port = empty_server.server_address[1]
        rows = [
            ("GET /metrics", getter(port, "/metrics"),
             "prometheus_client /metrics", getter(base_port, "/metrics")),
            ("GET /metrics, OpenMetrics", getter(port, "/metrics", OPENMETRICS),
             "prometheus_client, OpenMetrics", getter(base_port, "/metrics", OPENMETRICS)),
            ("GET /metrics, gzip", getter(port, "/metrics", GZIP),
             "prometheus_client, gzip", getter(base_port, "/metrics", GZIP)),
            ("GET /healthz", getter(port, "/healthz"),
             "prometheus_client, empty registry", getter(empty_port, "/metrics")),
            (f"GET /status ({SESSIONS} sessions)", getter(port, "/status"),
             "prometheus_client, empty registry", getter(empty_port, "/metrics")),
            ("load + validate example config", lambda: load_config(EXAMPLE),
             "tomllib.load of the same file", lambda: tomllib.loads(EXAMPLE.read_text())),
        ]  # fmt: skip
        table = []
        for name, fn, base_name, base_fn in rows:
            mine, theirs = timed(fn, rounds), timed(base_fn, rounds)
            table.append((name, mine, base_name, theirs))
    finally:
        ours.stop()
        for server, thread in ((baseline_server, baseline_thread), (empty_server, empty_thread)):
            server.shutdown()
            server.server_close()
            thread.join(5)

    print(f"rounds: {rounds}; times in ms (median / p99); ratio = ours / baseline (medians)")
    header = f"{'operation':<34} {'ours':>15}   {'baseline':<34} {'baseline':>15} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, mine, base_name, theirs in table:
        m_med, b_med = statistics.median(mine), statistics.median(theirs)
        print(
            f"{name:<34} {m_med * 1e3:7.3f}/{p99(mine) * 1e3:7.3f}   {base_name:<34} "
            f"{b_med * 1e3:7.3f}/{p99(theirs) * 1e3:7.3f} {m_med / b_med:6.2f}"
        )


if __name__ == "__main__":
    main()
