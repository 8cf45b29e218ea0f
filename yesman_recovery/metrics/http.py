"""The HTTP endpoint: ``/metrics`` (Prometheus text), ``/healthz`` and ``/status`` (JSON).

A plain class on :class:`http.server.ThreadingHTTPServer`; the application wraps it in an actor.
One thread runs the accept loop and each request gets its own daemon thread, so a slow scrape
never delays another. The endpoint only reads: nothing it serves changes the daemon's state.

The ``healthy`` and ``status`` callables run on a fresh daemon thread each and are waited for
``call_timeout`` seconds: a callable that raises or hangs gives 503, never a request that hangs
(Python cannot kill the stuck thread, but it is a daemon and holds no lock of ours).

It binds ``127.0.0.1`` unless told otherwise; the configuration's ``[metrics] listen`` is the
explicit choice of another address, which is logged as a warning since the endpoint has no
authentication.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from yesman_recovery.errors import EndpointError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
PATHS = ("/metrics", "/healthz", "/status")


class StatusServer:
    """Serves one registry's metrics, a health probe and the status document over HTTP.

    ``start()`` binds and returns once the socket listens (port 0 picks a free port; read it
    from :attr:`address`). ``stop()`` may be called from any thread, more than once.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        healthy: Callable[[], bool],
        status: Callable[[], dict[str, Any]],
        *,
        call_timeout: float = 3.0,
        critical_failures: Callable[[], list[str]] | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"`port` must be from 0 to 65535, got {port}")
        if not call_timeout > 0:
            raise ValueError(f"`call_timeout` must be positive, got {call_timeout}")
        self.host = host
        self.port = port
        self.registry = registry
        self.healthy = healthy
        self.status = status
        self.call_timeout = call_timeout
        self.critical_failures = critical_failures  # names of failing critical health checks
        # Owned by the thread calling start()/stop(); _lock makes those two safe to race.
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; raises :class:`EndpointError` before :meth:`start`."""
        server = self._server
        if server is None:
            raise EndpointError("the status server is not started; call start() first")
        host, port = server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound address."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        """Bind and start serving; raises :class:`EndpointError` if the address is unusable."""
        with self._lock:
            if self._server is not None:
                return
            server = self._bind()
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"yesman-recovery-http-{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        host, port = self.address
        if not _is_loopback(host):
            log.warning("status endpoint listens on non-loopback %s:%d without auth", host, port)
        log.info("status endpoint listening on %s", self.url)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket; waits up to ``timeout`` seconds for the loop."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None or thread is None:
            return
        # shutdown() waits for serve_forever() to return, which takes one poll interval.
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout)
        thread.join(max(0.0, timeout))
        server.server_close()
        if thread.is_alive():
            log.warning("status endpoint loop did not stop within %.1f s", timeout)

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind(self) -> ThreadingHTTPServer:
        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
        except (OSError, UnicodeError) as exc:
            raise EndpointError(
                f"cannot resolve metrics host {self.host!r}: {exc}; set [metrics] listen to "
                f'an address such as "127.0.0.1:{self.port}"'
            ) from None
        handler = _handler_for(self)
        try:
            return _StatusHTTPServer((self.host, self.port), handler, family)
        except OSError as exc:
            raise EndpointError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; choose "
                "another [metrics] listen port (0 picks a free one) or stop the other daemon"
            ) from None


def call_with_timeout(fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` on a daemon thread and return its result within ``timeout`` seconds.

    Raises what ``fn`` raised, or :class:`TimeoutError` (the thread is left to finish alone).
    """
    outcome: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # delivered to the caller, never lost in this thread
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="yesman-recovery-http-call", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"no answer within {timeout:.1f} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _StatusHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # request threads never keep the process alive

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        family: socket.AddressFamily,
    ) -> None:
        self.address_family = family  # AF_INET6 for "::1"; read by TCPServer.__init__
        super().__init__(address, handler)


def _handler_for(endpoint: StatusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_StatusHandler):
        server_endpoint = endpoint

    return Handler


class _StatusHandler(BaseHTTPRequestHandler):
    """Answers one request; runs on the request's own daemon thread."""

    server_endpoint: StatusServer
    server_version = "yesman-recovery"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            # The classic text format (0.0.4), which every Prometheus version scrapes; it is
            # also what prometheus_client serves when the scraper sends no Accept header.
            body = generate_latest(self.server_endpoint.registry)
            self._send(200, CONTENT_TYPE_PLAIN_0_0_4, body)
        elif path == "/healthz":
            ok = self._healthy()
            failing = self._critical_failures() if ok else []
            body = b"ok\n" if ok else b"unhealthy\n"
            if failing:  # a critical health check failing makes the daemon unhealthy too
                ok, text = False, f"unhealthy: critical checks failing: {', '.join(failing)}\n"
                body = text.encode()
            self._send(200 if ok else 503, "text/plain; charset=utf-8", body)
        elif path == "/status":
            self._send_status()
        else:
            text = f"not found: {path}; try {', '.join(PATHS)}\n"
            self._send(404, "text/plain; charset=utf-8", text.encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def _healthy(self) -> bool:
        endpoint = self.server_endpoint
        try:
            return bool(call_with_timeout(endpoint.healthy, endpoint.call_timeout))
        except Exception as exc:
            log.warning("health probe failed: %r", exc)
            return False

    def _critical_failures(self) -> list[str]:
        source = self.server_endpoint.critical_failures
        if source is None:
            return []
        try:
            return list(call_with_timeout(source, self.server_endpoint.call_timeout))
        except Exception as exc:
            log.warning("critical health checks unavailable: %r", exc)
            return ["(health checks unavailable)"]

    def _send_status(self) -> None:
        endpoint = self.server_endpoint
        try:
            document = call_with_timeout(endpoint.status, endpoint.call_timeout)
            body = json.dumps(document, default=str).encode()
            code = 200
        except Exception as exc:
            log.warning("status document failed: %r", exc)
            body = json.dumps({"error": f"status unavailable: {exc!r}"}).encode()
            code = 503
        self._send(code, "application/json", body)

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
