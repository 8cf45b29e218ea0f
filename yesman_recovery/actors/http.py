"""The HTTP endpoint: ``/metrics`` (prometheus_client), ``/healthz`` and ``/status`` (JSON).

A plain class on :class:`http.server.ThreadingHTTPServer`; the application wraps it in an actor
(:mod:`yesman_recovery.actors.endpoint`). One thread runs the accept loop and each connection
gets its own daemon thread, so a slow scrape never delays another. The endpoint only reads:
nothing it serves changes the daemon's state.

No client can starve the daemon through it (properties any replacement must keep):

- **bounded connections**: at most ``max_connections`` are open (256, an eighth of a lower open-file
  limit); past that the oldest idle one is dropped, a busy one never
  (:mod:`yesman_recovery.actors.connections`), so descriptors stay free for recovery;
- **read timeout**: a connection that sends nothing for ``read_timeout`` seconds (10) is closed;
- **/status from a snapshot**: the document is built by one background call at a time and kept
  for ``status_max_age`` seconds (1); requests in between answer from it, and requests that
  arrive while it is rebuilt wait for that one build — 200 parallel requests cost one build;
- a listen queue of 1,024 pending connections, so a burst waits in the kernel, not in threads.

``/healthz`` answers the daemon's health verdict as JSON (``{"healthy", "reasons"}``, see
:mod:`yesman_recovery.actors.verdict`): 200 while healthy, 503 otherwise. Without a ``verdict``
callable (a host's own server) it is made of ``healthy`` and the failing critical checks.

The verdict (or ``healthy``) callable runs on a fresh daemon thread per request, and the status
build on its own, each waited for ``call_timeout`` seconds: a callable that raises or hangs gives
503, never a request that hangs (Python cannot kill the stuck thread, but it is a daemon and
holds no lock of ours).

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
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry

from yesman_recovery.actors.connections import ConnectionSlots, default_limit
from yesman_recovery.actors.exposition import render_metrics
from yesman_recovery.errors import EndpointError
from yesman_recovery.timeouts import call_with_timeout

logger = logging.getLogger(__name__)


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
PATHS = ("/metrics", "/healthz", "/status")
READ_TIMEOUT = 10.0
"""Seconds a connection may stay silent (before or between requests) before it is closed."""
STATUS_MAX_AGE = 1.0
"""Seconds a built status document is served before the next request rebuilds it."""
LISTEN_QUEUE = 1024
STALE_WAIT = 0.2
"""Seconds a /status request waits for a rebuild when an older document can be served."""
STALE_LIMIT = 30.0
"""Seconds after which a status document is too old to serve at all."""


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
        read_timeout: float = READ_TIMEOUT,
        max_connections: int | None = None,
        status_max_age: float = STATUS_MAX_AGE,
        critical_failures: Callable[[], list[str]] | None = None,
        verdict: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"`port` must be from 0 to 65535, got {port}")
        for name, value in (("call_timeout", call_timeout), ("read_timeout", read_timeout)):
            if not value > 0:
                raise ValueError(f"`{name}` must be positive, got {value}")
        self.host = host
        self.port = port
        self.registry = registry
        self.healthy = healthy
        self.status = status
        self.call_timeout = call_timeout
        self.read_timeout = read_timeout
        self.slots = ConnectionSlots(max_connections or default_limit())
        self.status_cache = StatusCache(status, max_age=status_max_age, timeout=call_timeout)
        self.critical_failures = critical_failures  # names of failing critical health checks
        self.verdict = verdict  # the daemon's verdict (yesman_recovery.actors.verdict), if any
        # Owned by the thread calling start()/stop(); _lock makes those two safe to race.
        self._lock = threading.Lock()
        self._server: _StatusHTTPServer | None = None
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
            logger.warning("status endpoint listens on non-loopback %s:%d without auth", host, port)
        logger.info("status endpoint listening on %s", self.url)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket; waits up to ``timeout`` seconds for the loop."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None or thread is None:
            return
        # shutdown() waits for serve_forever() to return, which takes one poll interval.
        server.closing.set()  # an accept waiting for a slot gives up
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout)
        thread.join(max(0.0, timeout))
        server.server_close()
        if thread.is_alive():
            logger.warning("status endpoint loop did not stop within %.1f s", timeout)

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind(self) -> _StatusHTTPServer:
        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
        except (OSError, UnicodeError) as exc:
            raise EndpointError(
                f"cannot resolve metrics host {self.host!r}: {exc}; set [metrics] listen to "
                f'an address such as "127.0.0.1:{self.port}"'
            ) from None
        handler = _handler_for(self)
        try:
            return _StatusHTTPServer((self.host, self.port), handler, family, self.slots)
        except OSError as exc:
            raise EndpointError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; choose "
                "another [metrics] listen port (0 picks a free one) or stop the other daemon"
            ) from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _StatusHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # request threads never keep the process alive
    block_on_close = False  # server_close() must not wait for connection threads
    request_queue_size = LISTEN_QUEUE

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        family: socket.AddressFamily,
        slots: ConnectionSlots,
    ) -> None:
        self.address_family = family  # AF_INET6 for "::1"; read by TCPServer.__init__
        self.slots = slots
        self.closing = threading.Event()  # set by stop(): an accept waiting for a slot gives up
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # On the accept thread: take a slot (dropping the oldest idle connection) first.
        if not self.slots.admit(request, self.closing):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.slots.release(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine here, not a traceback on stderr.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class StatusCache:
    """The status document as JSON bytes, rebuilt at most once per ``max_age`` seconds.

    :meth:`get` answers from the last build while it is young enough. Otherwise it starts one
    build on a daemon thread (unless one runs), so any number of concurrent requests cost one
    call of ``build``, and waits for it: up to ``timeout`` when there is nothing to serve yet,
    only :data:`STALE_WAIT` when an older document exists — that one is served meanwhile (a
    build waits up to 2 s for a session busy restoring, and /status must answer at once). A
    document older than ``STALE_LIMIT`` is not served. A build running longer than ``timeout``
    is abandoned (its result, if it comes, is still kept) and the next request starts another.
    """

    def __init__(
        self, build: Callable[[], dict[str, Any]], *, max_age: float, timeout: float
    ) -> None:
        self._build = build
        self.max_age = max_age
        self.timeout = timeout
        self._lock = threading.Lock()
        # guarded by _lock: (monotonic time built, body) of the newest build, or None
        self._latest: tuple[float, bytes] | None = None
        self._error = ""  # guarded by _lock: why the newest build failed, "" if it did not
        # guarded by _lock: (monotonic start, done event) of the running build, or None
        self._running: tuple[float, threading.Event] | None = None
        self.builds = 0  # guarded by _lock: builds started (tests, benchmarks)

    def get(self) -> tuple[bytes | None, str]:
        """``(body, "")`` of a recent document, or ``(None, why not)``."""
        with self._lock:
            now = time.monotonic()
            latest = self._latest
            if latest is not None and now - latest[0] <= self.max_age:
                return latest[1], ""
            running = self._running
            if running is None or now - running[0] > self.timeout:
                running = (now, threading.Event())
                self._running = running
                self.builds += 1
                threading.Thread(
                    target=self._run, args=(running,), name="yesman-recovery-status", daemon=True
                ).start()
            usable = latest is not None and now - latest[0] <= STALE_LIMIT
        running[1].wait(STALE_WAIT if usable else self.timeout)
        with self._lock:
            latest = self._latest
            if latest is not None and time.monotonic() - latest[0] <= STALE_LIMIT:
                return latest[1], ""
            return None, self._error or f"no answer within {self.timeout:.1f} s"

    def _run(self, running: tuple[float, threading.Event]) -> None:
        try:
            body = json.dumps(self._build(), default=str).encode()
        except Exception as exc:
            logger.warning("status document failed: %r", exc)
            with self._lock:
                self._error = repr(exc)
        else:
            with self._lock:
                if self._latest is None or self._latest[0] < running[0]:
                    self._latest = (running[0], body)
                self._error = ""
        finally:
            with self._lock:
                if self._running is running:
                    self._running = None
            running[1].set()


def _reason(kind: str, subject: str, detail: str) -> dict[str, str]:
    return {"kind": kind, "subject": subject, "detail": detail}


def _handler_for(endpoint: StatusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_StatusHandler):
        server_endpoint = endpoint

    return Handler


class _StatusHandler(BaseHTTPRequestHandler):
    """Answers one request; runs on the request's own daemon thread."""

    server_endpoint: StatusServer
    server_version = "yesman-recovery"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # StreamRequestHandler.setup applies `timeout` to the connection: a read timeout
        self.timeout = self.server_endpoint.read_timeout  # type: ignore[misc]
        super().setup()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            self.server_endpoint.slots.mark_busy(self.connection)
        return ok

    def handle_one_request(self) -> None:
        super().handle_one_request()
        self.server_endpoint.slots.mark_idle(self.connection)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            body, headers = render_metrics(
                self.server_endpoint.registry,
                accept=self.headers.get("Accept", ""),
                accept_encoding=self.headers.get("Accept-Encoding", ""),
                query=query,
            )
            self._send(200, headers["Content-Type"], body, headers)
        elif path == "/healthz":
            verdict = self._verdict()
            body = json.dumps(verdict, ensure_ascii=False).encode() + b"\n"
            self._send(200 if verdict.get("healthy") is True else 503, "application/json", body)
        elif path == "/status":
            self._send_status()
        else:
            text = f"not found: {path}; try {', '.join(PATHS)}\n"
            self._send(404, "text/plain; charset=utf-8", text.encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def _verdict(self) -> dict[str, Any]:
        """``{"healthy", "reasons"}``: the daemon's verdict, else one made of ``healthy`` and
        the critical checks; a verdict that raises or hangs is an unhealthy one."""
        endpoint = self.server_endpoint
        if endpoint.verdict is None:
            reasons = [] if self._healthy() else [_reason("supervisor", "root", "not healthy")]
            if not reasons:
                failing = self._critical_failures()
                reasons = [_reason("critical_check", n, "a critical check fails") for n in failing]
            return {"healthy": not reasons, "reasons": reasons}
        try:
            return dict(call_with_timeout(endpoint.verdict, endpoint.call_timeout))
        except Exception as exc:
            logger.warning("health verdict failed: %r", exc)
            detail = f"no verdict within {endpoint.call_timeout:g}s: {exc!r}"
            return {"healthy": False, "reasons": [_reason("supervisor", "daemon", detail)]}

    def _healthy(self) -> bool:
        endpoint = self.server_endpoint
        try:
            return bool(call_with_timeout(endpoint.healthy, endpoint.call_timeout))
        except Exception as exc:
            logger.warning("health probe failed: %r", exc)
            return False

    def _critical_failures(self) -> list[str]:
        source = self.server_endpoint.critical_failures
        if source is None:
            return []
        try:
            return list(call_with_timeout(source, self.server_endpoint.call_timeout))
        except Exception as exc:
            logger.warning("critical health checks unavailable: %r", exc)
            return ["(health checks unavailable)"]

    def _send_status(self) -> None:
        body, problem = self.server_endpoint.status_cache.get()
        if body is None:
            body = json.dumps({"error": f"status unavailable: {problem}"}).encode()
            self._send(503, "application/json", body)
            return
        self._send(200, "application/json", body)

    def _send(
        self, code: int, content_type: str, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            if name != "Content-Type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)
