"""The daemon's control channel: JSON requests on a Unix socket in the state directory.

The HTTP endpoint only reports (DESIGN §12: it changes nothing). Commands that act on a running
daemon — open a circuit breaker, retry a parked transaction, run a health check now — go through
this channel instead, which only the state directory's owner can reach: the directory is 0700
and the socket 0600, so a request here is as trusted as a command typed by that user.

Wire format, one JSON object per line each way::

    {"command": "breakers.open", "args": {"name": "model-api"}}
    {"ok": true, "result": ...}            or    {"ok": false, "error": "no breaker 'x'; ..."}

Handlers are registered by name (:meth:`ControlServer.register`) and run on the connection's
thread: they must answer promptly and ask actors with a timeout. A handler that raises
``ValueError`` or ``LookupError`` is refusing the request and its message goes back to the
caller as it is; any other exception is a bug, logged with its traceback and answered as
``internal error: …``. A client gets at most :data:`REQUEST_TIMEOUT` seconds to send its request
and at most :data:`MAX_CONNECTIONS` connections are served at once; more are answered "busy" and
closed, so a flood of clients cannot pin threads or file descriptors the daemon needs.

A socket path longer than ``sun_path`` allows (about 107 bytes; a deep state directory reaches
that) is reached through ``/proc/self/fd/N/``, a short path to the same directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from yesman_recovery.errors import RecoveryError

logger = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
REQUEST_TIMEOUT = 5.0
"""Seconds a client has to send its whole request line."""
MAX_REQUEST_BYTES = 1 << 20
MAX_CONNECTIONS = 16
_SUN_PATH_MAX = 100  # below the 108 bytes of sun_path, with room for the terminating NUL

Handler = Callable[[dict[str, Any]], Any]
"""A command: its ``args`` in, a JSON-able result out; ``ValueError``/``LookupError`` refuse."""


class ControlError(RecoveryError):
    """The daemon refused a control request; the message is the daemon's own words."""


class DaemonNotRunning(ControlError):
    """No daemon listens on the state directory's control socket."""


def socket_path(state_dir: Path | str) -> Path:
    """The control socket of the daemon that owns ``state_dir``."""
    return Path(state_dir).expanduser() / SOCKET_NAME


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """``path`` as a string ``bind``/``connect`` accept, via ``/proc/self/fd`` when too long."""
    text = os.fsencode(path)
    if len(text) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog is 5: a client with a timeout (a non-blocking connect) that
    # finds it full gets EAGAIN at once instead of waiting, so a burst of callers failed.
    request_queue_size = 4 * MAX_CONNECTIONS

    def __init__(self, address: str, owner: ControlServer) -> None:
        self.owner = owner
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_encode({"ok": False, "error": "busy: too many connections"}))
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _RequestHandler(socketserver.StreamRequestHandler):
    timeout = REQUEST_TIMEOUT
    server: _Server

    def handle(self) -> None:
        try:
            line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
        except TimeoutError:
            reply = {"ok": False, "error": f"no request line within {self.timeout} s"}
        except OSError:  # the client went away
            return
        else:
            reply = self.server.owner.dispatch(line)
        with contextlib.suppress(OSError):
            self.wfile.write(_encode(reply))


def _encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, ensure_ascii=False, default=str).encode() + b"\n"


class ControlServer:
    """Serves registered commands on ``path`` (a Unix socket, mode 0600) from its own threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handlers: dict[str, Handler] = {}  # written before start(), read by connections
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._inode: int | None = None  # the socket file we bound, so close() removes only it

    def register(self, command: str, handler: Handler) -> None:
        """Serve ``command`` (e.g. ``"breakers.open"``) with ``handler``; a name is taken once."""
        if command in self._handlers:
            raise ValueError(f"control command {command!r} is already registered")
        self._handlers[command] = handler

    @property
    def commands(self) -> list[str]:
        """The registered command names, sorted."""
        return sorted(self._handlers)

    def start(self) -> None:
        """Bind the socket and serve; raises ``ControlError`` if another daemon listens there."""
        if self._server is not None:
            raise RuntimeError("ControlServer.start() was already called")
        self._remove_stale_socket()
        with _short_path(self.path) as address:
            self._server = _Server(address, self)
        os.chmod(self.path, 0o600)
        self._inode = os.stat(self.path).st_ino
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="yesman-recovery-control",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and remove the socket file (only if it is still the one we bound)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)

    def dispatch(self, line: bytes) -> dict[str, Any]:
        """Answer one request line (the whole protocol, without the socket)."""
        if len(line) > MAX_REQUEST_BYTES:
            return {"ok": False, "error": f"request longer than {MAX_REQUEST_BYTES} bytes"}
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "request is not one line of JSON"}
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return {"ok": False, "error": 'request must be {"command": NAME, "args": {...}}'}
        args = request.get("args") or {}
        if not isinstance(args, dict):
            return {"ok": False, "error": "args must be a JSON object"}
        command: str = request["command"]
        handler = self._handlers.get(command)
        if handler is None:
            known = ", ".join(self.commands) or "none"
            return {"ok": False, "error": f"unknown command {command!r}; known: {known}"}
        try:
            return {"ok": True, "result": handler(args)}
        except (ValueError, LookupError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            return {"ok": False, "error": str(message)}
        except Exception as exc:
            logger.exception("control command %s failed", command)
            return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}

    def _remove_stale_socket(self) -> None:
        if not self.path.exists() and not self.path.is_symlink():
            return
        try:
            ping(self.path.parent, timeout=1.0)
        except DaemonNotRunning:
            self.path.unlink(missing_ok=True)  # left by a daemon that was killed
            return
        except ControlError:
            pass  # something answers: it is alive
        raise ControlError(
            f"another daemon is listening on {self.path}; stop it first "
            "(or give this one its own --state-dir)"
        )


def call(
    state_dir: Path | str,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = 5.0,
) -> Any:
    """Send ``command`` to the daemon of ``state_dir`` and return its result.

    Raises :class:`DaemonNotRunning` when nothing listens there and :class:`ControlError` with
    the daemon's message when it refused the request. Every step waits at most ``timeout``.
    """
    path = socket_path(state_dir)
    request = json.dumps({"command": command, "args": args or {}}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            with _short_path(path) as address:
                sock.connect(address)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # A busy daemon answers and closes before reading: its answer is still there.
                sock.sendall(request)
            with sock.makefile("rb") as reader:
                line = reader.readline()
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
        raise DaemonNotRunning(
            f"no daemon is running on {Path(state_dir).expanduser()} (no control socket at {path})"
        ) from exc
    except TimeoutError as exc:
        raise ControlError(f"the daemon did not answer {command!r} within {timeout} s") from exc
    except BlockingIOError as exc:  # EAGAIN: its queue of connections waiting to be accepted
        raise ControlError(f"the daemon at {path} is busy (too many connections)") from exc
    except OSError as exc:
        raise ControlError(f"could not talk to the daemon at {path}: {exc}") from exc
    if not line:
        raise ControlError(f"the daemon closed the connection without answering {command!r}")
    try:
        reply = json.loads(line)
    except ValueError as exc:
        raise ControlError(f"the daemon's answer to {command!r} is not JSON") from exc
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "the daemon refused the request")))
    return reply.get("result")


def ping(state_dir: Path | str, *, timeout: float = 1.0) -> Any:
    """The daemon's answer to ``ping`` (its pid and version); raises as :func:`call` does."""
    return call(state_dir, "ping", timeout=timeout)
