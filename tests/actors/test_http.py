"""The HTTP endpoint, over real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from yesman_recovery.actors.http import StatusServer, _is_loopback
from yesman_recovery.errors import EndpointError

STATUS = {"version": "0.1.0", "healthy": True, "tree": {"id": "root", "children": []}}


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    """Status code, content type and body of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    counter = Counter("yesman_recovery_test_events", "Events.", ["kind"], registry=registry)
    counter.labels(kind="crash").inc(3)
    return registry


@pytest.fixture
def serve(registry: CollectorRegistry) -> Iterator[Callable[..., StatusServer]]:
    """Start a StatusServer on a free loopback port; every one started is stopped."""
    started: list[StatusServer] = []

    def start(
        healthy: Callable[[], bool] = lambda: True,
        status: Callable[[], dict[str, Any]] = lambda: STATUS,
        **kwargs: Any,
    ) -> StatusServer:
        server = StatusServer("127.0.0.1", 0, registry, healthy, status, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_metrics_serves_the_registry_in_prometheus_text_format(serve: Any) -> None:
    server = serve()
    code, content_type, body = fetch(server.url + "/metrics")
    assert code == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 'yesman_recovery_test_events_total{kind="crash"} 3.0' in body.decode()


def test_port_zero_binds_a_free_port_reported_by_address(serve: Any) -> None:
    server = serve()
    host, port = server.address
    assert host == "127.0.0.1"
    assert port > 0
    assert server.url == f"http://127.0.0.1:{port}"


def test_healthz_follows_the_healthy_callable(serve: Any) -> None:
    state = {"up": True}
    server = serve(healthy=lambda: state["up"])
    assert fetch(server.url + "/healthz")[::2] == (200, b'{"healthy": true, "reasons": []}\n')
    state["up"] = False
    code, _, body = fetch(server.url + "/healthz")
    assert code == 503
    assert json.loads(body) == {
        "healthy": False,
        "reasons": [{"kind": "supervisor", "subject": "root", "detail": "not healthy"}],
    }


def test_healthz_is_503_when_the_probe_raises(serve: Any) -> None:
    def broken() -> bool:
        raise RuntimeError("root supervisor gone")

    server = serve(healthy=broken)
    assert fetch(server.url + "/healthz")[0] == 503


def test_status_returns_the_document_as_json(serve: Any) -> None:
    server = serve()
    code, content_type, body = fetch(server.url + "/status?pretty=0")
    assert (code, content_type) == (200, "application/json")
    assert json.loads(body) == STATUS


def test_status_is_503_with_a_json_error_when_the_callable_raises(serve: Any) -> None:
    def broken() -> dict[str, Any]:
        raise ValueError("tree is being rebuilt")

    server = serve(status=broken)
    code, _, body = fetch(server.url + "/status")
    assert code == 503
    assert "tree is being rebuilt" in json.loads(body)["error"]


def test_a_hanging_status_callable_gives_503_instead_of_a_hung_request(serve: Any) -> None:
    release = threading.Event()

    def hangs() -> dict[str, Any]:
        release.wait(30)
        return STATUS

    server = serve(status=hangs, call_timeout=0.2)
    try:
        started = time.monotonic()
        code, _, body = fetch(server.url + "/status")
        assert code == 503
        assert "no answer" in json.loads(body)["error"]
        assert time.monotonic() - started < 5
        # The endpoint still answers other requests while that callable is stuck.
        assert fetch(server.url + "/metrics")[0] == 200
    finally:
        release.set()


def test_unknown_paths_are_404_and_name_the_served_paths(serve: Any) -> None:
    server = serve()
    code, _, body = fetch(server.url + "/admin")
    assert code == 404
    assert b"/metrics" in body


def test_head_answers_without_a_body(serve: Any) -> None:
    server = serve()
    code, _, body = fetch(server.url + "/healthz", method="HEAD")
    assert (code, body) == (200, b"")


def test_requests_are_logged_at_debug_not_printed_on_stderr(
    serve: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve()
    with caplog.at_level(logging.DEBUG, logger="yesman_recovery.actors.http"):
        fetch(server.url + "/healthz")
        server.stop()  # joins the loop; the request thread has logged before answering
    assert capfd.readouterr().err == ""
    assert any("GET /healthz" in r.getMessage() for r in caplog.records)


def test_stop_closes_the_socket_and_is_idempotent(registry: CollectorRegistry) -> None:
    server = StatusServer("127.0.0.1", 0, registry, lambda: True, lambda: STATUS)
    with server:
        port = server.address[1]
        assert fetch(server.url + "/healthz")[0] == 200
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(EndpointError, match="not started"):
        _ = server.address


def test_a_busy_port_is_an_error_naming_the_address(
    serve: Any, registry: CollectorRegistry
) -> None:
    port = serve().address[1]
    second = StatusServer("127.0.0.1", port, registry, lambda: True, lambda: STATUS)
    with pytest.raises(EndpointError, match=rf"127\.0\.0\.1:{port}.*port \(0 picks"):
        second.start()


def test_an_unresolvable_host_is_an_error_naming_it(registry: CollectorRegistry) -> None:
    server = StatusServer("no-such-host.invalid", 0, registry, lambda: True, lambda: STATUS)
    with pytest.raises(EndpointError, match=r"no-such-host\.invalid"):
        server.start()


def test_ipv6_loopback_is_served(registry: CollectorRegistry) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    server = StatusServer("::1", 0, registry, lambda: True, lambda: STATUS)
    try:
        server.start()
    except EndpointError:
        pytest.skip("::1 is not configured on this host")
    try:
        assert server.url.startswith("http://[::1]:")
        assert fetch(server.url + "/healthz")[0] == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("port", "timeout"), [(-1, 1.0), (70000, 1.0), (0, 0.0)])
def test_bad_arguments_are_refused(registry: CollectorRegistry, port: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        StatusServer("127.0.0.1", port, registry, lambda: True, dict, call_timeout=timeout)


def test_starting_twice_keeps_the_first_socket(serve: Any) -> None:
    server = serve()
    address = server.address
    server.start()
    assert server.address == address


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False)],
)  # fmt: skip
def test_non_loopback_hosts_are_recognised_for_the_warning(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


def test_the_endpoint_benchmark_runs_in_quick_mode() -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_endpoint.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(("GET", "load"))]
    assert len(rows) == 6  # /metrics as text, OpenMetrics and gzip; /healthz; /status; config
