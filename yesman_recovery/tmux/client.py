"""A tmux client with a timeout on every call and many commands chained into one process.

libtmux runs tmux without a timeout, so a SIGSTOPped server blocks its callers forever, and it
spends several processes per object call. :class:`TmuxClient` runs ``tmux`` itself:

- every invocation has a timeout; a server that does not answer raises :class:`TmuxTimeout`
  (the child is killed), one that is not there raises :class:`TmuxServerGone`, any other
  refusal raises :class:`TmuxError` with tmux's own words;
- :meth:`TmuxClient.run_chain` sends many commands as ``a \\; b \\; c`` in one process;
- arguments are escaped for tmux's argument parser (an argument ending in ``;`` would otherwise
  end the command), so names and argv pass through unchanged.

Format output is framed as :mod:`yesman_recovery.tmux.formats` describes. ``TmuxClient``
satisfies :class:`~yesman_recovery.tmux.protocol.Tmux`, the interface the actors use.

tmux stores session names escaped (``vis(3)``-style: ``\\t``, ``\\n``, ``\\$``, ``\\\\``, octal
for other control characters) after turning ``.`` and ``:`` into ``_``; :func:`stored_session_name`
computes that form and :func:`unvis` reverses it. Arguments such as ``-s``, ``-n`` and ``-c`` are
format-expanded by tmux, so :func:`literal` doubles their ``#``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Mapping, Sequence

from yesman_recovery.agents.registry import DEFAULT_AGENTS, Agents
from yesman_recovery.errors import TmuxError, TmuxServerGone, TmuxTimeout
from yesman_recovery.processes import wait_pid_gone
from yesman_recovery.tmux.formats import FIELD_SEP, RECORD_END, format_of, parse_records
from yesman_recovery.tmux.records import ServerSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

__all__ = [
    "FIELD_SEP",
    "RECORD_END",
    "TmuxClient",
    "escape_arg",
    "format_of",
    "literal",
    "parse_records",
    "stored_session_name",
    "unvis",
    "wait_pid_gone",
]


_LAUNCHER_FAILED = "Failed to "
"""How a launcher says it could not run tmux at all (systemd-run's wording; the cgroup
launcher of :mod:`.placement` uses it too); tmux's own errors never start so."""


class _LauncherFailed(TmuxError):
    """The launcher could not run tmux; the call is made again without it."""


_STARTS_SERVER = frozenset({"new-session", "new", "start-server", "start"})
"""tmux commands that start a server when none runs."""
_GONE_MARKERS = ("no server running", "error connecting to", "server exited unexpectedly")
_CSTYLE = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}
_UNCSTYLE = {v: k for k, v in _CSTYLE.items()}
_UNVIS = re.compile(r"\\(?:([0-7]{3})|(.))", re.DOTALL)


def escape_arg(arg: str) -> str:
    """Escape one argument for tmux's command-line parser (a trailing ``;`` ends a command)."""
    if arg.endswith(";"):
        return arg[:-1] + "\\;"
    return arg


def literal(text: str) -> str:
    """Protect text for a format-expanded argument (``-s``, ``-n``, ``-c``): ``#`` → ``##``."""
    return text.replace("#", "##")


def stored_session_name(name: str) -> str:
    """Return the name tmux stores (and prints) for a session created with ``-s name``."""
    out: list[str] = []
    for ch in name.replace(".", "_").replace(":", "_"):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "$":
            out.append("\\$")
        elif ch in _CSTYLE:
            out.append("\\" + _CSTYLE[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return "".join(out)


def unvis(stored: str) -> str:
    """Reverse :func:`stored_session_name`: the text to pass to ``new-session -s``."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return chr(int(match.group(1), 8))
        ch = match.group(2)
        return _UNCSTYLE.get(ch, ch)

    return _UNVIS.sub(one, stored)


logger = logging.getLogger(__name__)


class DescriptorReserve:
    """A few descriptors held open so that a tmux call still runs when the process has none left.

    Starting tmux takes about six descriptors (pipes for its output and for the exec check). A
    process that ran out of them (``EMFILE``) — a flood of connections, a leak elsewhere — would
    fail exactly when it must restore a session; the client then closes the reserve, retries
    the call once, and opens the reserve again when descriptors are back.
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._fds: list[int] = []  # guarded by _lock: open descriptors of /dev/null
        self.fill()

    def fill(self) -> None:
        """Open descriptors until ``size`` are held (as many as possible)."""
        with self._lock:
            while len(self._fds) < self.size:
                try:
                    self._fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
                except OSError:
                    return

    def release(self) -> bool:
        """Close every held descriptor; True iff there was one."""
        with self._lock:
            fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        return bool(fds)

    @property
    def held(self) -> int:
        """Descriptors held now."""
        with self._lock:
            return len(self._fds)


_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE)
RESERVE = DescriptorReserve()
"""The process-wide reserve every :class:`TmuxClient` falls back on."""


class TmuxClient:
    """Runs tmux on one server, each call bounded by ``timeout`` seconds.

    Thread-safe: each call is its own process; ``invocations`` counts them (tests, benchmarks).
    ``config_file`` is passed as ``-f`` and only matters when a call starts the server.
    """

    def __init__(
        self,
        socket_name: str | None = None,
        socket_path: str | None = None,
        timeout: float = 2.0,
        *,
        tmux_bin: str = "tmux",
        config_file: str | None = None,
        launcher: Sequence[str] = (),
        agents: Agents = DEFAULT_AGENTS,
    ) -> None:
        if socket_name is not None and socket_path is not None:
            raise ValueError(
                f"pass `socket_name` or `socket_path`, not both "
                f"(got {socket_name!r} and {socket_path!r})"
            )
        if not timeout > 0:
            raise ValueError(f"`timeout` must be positive seconds, got {timeout!r}")
        self.socket_name = socket_name
        self.socket_path = socket_path
        self.timeout = timeout
        self.tmux_bin = tmux_bin
        self.config_file = config_file
        self.launcher = tuple(launcher)
        """Words run before tmux when a call starts the server (:mod:`.placement`)."""
        self.agents = agents  # the agent CLIs whose panes' conversations snapshots read
        self._lock = threading.Lock()
        self._invocations = 0  # guarded by _lock; tmux processes started by this client

    @property
    def invocations(self) -> int:
        """The number of tmux processes this client has started."""
        with self._lock:
            return self._invocations

    @property
    def server_label(self) -> str:
        """The server as a user would name it: ``-L name``, ``-S path`` or ``default``."""
        if self.socket_name is not None:
            return f"-L {self.socket_name}"
        if self.socket_path is not None:
            return f"-S {self.socket_path}"
        return "default"

    def command_line(self, *args: str) -> str:
        """A tmux command a user can paste to act on this server, e.g. ``tmux -L x kill-server``.

        Server options are included only when they are not the default; words are shell-quoted.
        """
        words = ["tmux"]
        if self.socket_name is not None:
            words += ["-L", self.socket_name]
        elif self.socket_path is not None:
            words += ["-S", self.socket_path]
        return shlex.join([*words, *args])

    def base_argv(self) -> list[str]:
        """The tmux binary and server-selection options every invocation starts with."""
        argv = [self.tmux_bin]
        if self.config_file is not None:
            argv += ["-f", self.config_file]
        if self.socket_name is not None:
            argv += ["-L", self.socket_name]
        elif self.socket_path is not None:
            argv += ["-S", self.socket_path]
        return argv

    def run(self, *args: str) -> str:
        """Run one tmux command and return its standard output."""
        return self._invoke([escape_arg(a) for a in args])

    def run_chain(self, commands: Sequence[Sequence[str]]) -> str:
        """Run many commands in one tmux process (``a \\; b``); tmux stops at the first failure."""
        argv: list[str] = []
        for command in commands:
            if not command:
                continue
            if argv:
                argv.append(";")
            argv.extend(escape_arg(a) for a in command)
        if not argv:
            return ""
        return self._invoke(argv)

    def _invoke(self, args: list[str]) -> str:
        names = [word for word, before in zip(args, [";", *args], strict=False) if before == ";"]
        starts = any(name in _STARTS_SERVER for name in names)
        if not (starts and self.launcher):
            return self._call(args, self.base_argv(), new_session=starts)
        # Through the launcher only when no server answers (see yesman_recovery.tmux.placement).
        tmux, *options = self.base_argv()
        try:
            return self._call(args, [tmux, "-N", *options], new_session=True)
        except TmuxServerGone:
            pass
        try:
            return self._call(args, [*self.launcher, *self.base_argv()], new_session=True,
                              launched=True)  # fmt: skip
        except _LauncherFailed as exc:  # e.g. the bus went away since the daemon started
            logger.warning("%s; starting the tmux server directly, in the daemon's cgroup", exc)
            return self._call(args, self.base_argv(), new_session=True)

    def _call(
        self, args: list[str], base: list[str], *, new_session: bool, launched: bool = False
    ) -> str:
        with self._lock:
            self._invocations += 1
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        argv = base + args
        try:
            try:
                proc = self._spawn(argv, env, new_session)
            except OSError as exc:
                if exc.errno not in _OUT_OF_FILES or not RESERVE.release():
                    raise
                logger.warning("out of file descriptors: running tmux on the reserve")
                try:
                    proc = self._spawn(argv, env, new_session)
                finally:
                    RESERVE.fill()
        except subprocess.TimeoutExpired as exc:
            raise TmuxTimeout(
                f"tmux server {self.server_label} did not answer within {self.timeout}s "
                f"(command {args[:3]!r}…): it is unresponsive, e.g. stopped"
            ) from exc
        except FileNotFoundError as exc:
            if launched:
                raise _LauncherFailed(f"cannot run {base[0]}: not found") from exc
            raise TmuxError(
                f"tmux binary {self.tmux_bin!r} not found: install tmux or pass `tmux_bin`"
            ) from exc
        except OSError as exc:  # out of descriptors or processes: a failed call, not a crash
            raise TmuxError(f"cannot run tmux on {self.server_label}: {exc}") from exc
        stdout = proc.stdout.decode("utf-8", errors="replace")
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", errors="replace").strip()
            if launched and err.startswith(_LAUNCHER_FAILED):
                raise _LauncherFailed(f"{base[0]} failed: {' '.join(err.split())}")
            if any(marker in err for marker in _GONE_MARKERS):
                raise TmuxServerGone(f"no tmux server on {self.server_label}: {err}")
            error = TmuxError(f"tmux {args[:3]!r}… on {self.server_label} failed: {err}")
            error.output = stdout
            raise error
        return stdout

    def _spawn(
        self, argv: list[str], env: dict[str, str], new_session: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        # A call that may start the server runs in a session of its own: a signal to ours
        # (Ctrl-C in the daemon's terminal) must not reach a server being born.
        return subprocess.run(
            argv,
            capture_output=True,
            timeout=self.timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
            start_new_session=new_session,
        )

    def server_pid(self) -> int | None:
        """Return the server's pid, or None when no server runs on the socket."""
        try:
            out = self.run("display-message", "-p", "#{pid}")
        except TmuxServerGone:
            return None
        text = out.strip()
        return int(text) if text.isdigit() else None

    def snapshot(self, *, scrollback: Mapping[str, int] | None = None) -> ServerSnapshot:
        """Observe every session of the server in one tmux process (see :func:`take_snapshot`)."""
        return take_snapshot(self, scrollback=scrollback, agents=self.agents)

    def kill_server(self) -> None:
        """Kill the server and wait until its process is gone (tmux returns before it exits).

        Raises :class:`TmuxTimeout` when the old process outlives ``timeout``.
        """
        pid = self.server_pid()
        if pid is None:
            return
        with contextlib.suppress(TmuxServerGone):
            self.run("kill-server")
        if not wait_pid_gone(pid, self.timeout):
            raise TmuxTimeout(
                f"tmux server {self.server_label} (pid {pid}) still runs {self.timeout}s "
                f"after kill-server"
            )
