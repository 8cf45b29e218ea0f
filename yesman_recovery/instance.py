"""One daemon per state directory and per tmux server: exclusive ``flock`` locks holding a pid.

Two daemons on one state directory would both restore the same sessions (tmux then refuses the
second with "duplicate session") and write the same audit trail; two daemons with different
state directories watching one tmux server would fight over its sessions just the same. So
:meth:`RecoveryApp.start` takes two locks before it starts anything:

- ``daemon.lock`` in the state directory;
- ``<tmux socket>.yesman-recovery.lock`` next to the tmux server's socket (for ``-L NAME`` and
  the default server that is ``$TMUX_TMPDIR/tmux-UID/``, tmux's own private directory, created
  ``0700`` as tmux would if no server ran yet).

A lock is ``flock(LOCK_EX | LOCK_NB)`` on a file that holds the owner's pid. The kernel drops it
when the process dies however it dies (SIGKILL, OOM), so a stale file never blocks a restart. A
clean release removes the file before closing it; a process that opened the file just before
that removal would then lock an orphaned inode, so after locking, the path is checked to still
name the locked inode, and the lock is retried on the new file otherwise. Readers
(``checkpoints``, ``audit``, ``sessions save``) never take a lock: LMDB lets them read while the
daemon writes.

``flock`` locks belong to an open file description, so a second lock of the same file in the
same process is refused too, as a second daemon would be.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from yesman_recovery.errors import RecoveryError

STATE_LOCK_NAME = "daemon.lock"
SERVER_LOCK_SUFFIX = ".yesman-recovery.lock"


class AlreadyRunning(RecoveryError):
    """Another process holds the lock; the message names its pid, the lock file and the fix."""

    def __init__(self, message: str, *, pid: int | None, path: Path) -> None:
        super().__init__(message)
        self.pid = pid
        self.path = path


class InstanceLock:
    """An exclusive lock on ``path`` for as long as this object holds it.

    ``what`` names the thing locked in messages (e.g. "the state directory /x") and ``instead``
    the other way out for the user (e.g. "give this one its own --state-dir").
    """

    def __init__(self, path: Path, what: str, instead: str) -> None:
        self.path = Path(path)
        self.what = what
        self.instead = instead
        self._fd: int | None = None  # the locked file's descriptor, None when not held
        self.previous_pid: int | None = None
        """The pid a holder that did not release the lock (killed, crashed) left in the file."""

    @property
    def held(self) -> bool:
        """True iff this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock and write our pid into the file.

        Raises :class:`AlreadyRunning` naming the holder's pid and the file when another
        process (or another lock in this one) holds it, and :class:`RecoveryError` when the
        file cannot be opened (the message says why and how to fix it).
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this object")
        for _attempt in range(_ATTEMPTS):
            fd = self._lock_once()
            if _same_file(fd, self.path):
                break
            os.close(fd)  # we locked a file its holder removed on release: lock the new one
        else:
            raise RecoveryError(f"cannot lock {self.path}: it keeps being replaced")
        # A clean release removes the file; one still holding a pid was left by a holder that
        # was killed or crashed.
        left = _read_pid(fd)
        self.previous_pid = left if left != os.getpid() else None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def _lock_once(self) -> int:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RecoveryError(f"cannot lock {self.path}: {exc.strerror}") from None
            who = f"pid {holder}" if holder is not None else "another process"
            fix = f"stop it first (`kill {holder}`)" if holder is not None else "stop it first"
            raise AlreadyRunning(
                f"another yesman-recovery ({who}) is already running on {self.what}: it holds "
                f"the lock {self.path}; {fix}, or {self.instead}",
                pid=holder,
                path=self.path,
            ) from None
        return fd

    def release(self) -> None:
        """Give the lock up and remove the file (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            if _same_file(fd, self.path):
                os.unlink(self.path)  # still locked: nobody can take the file meanwhile
        os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _open(self) -> int:
        # O_NOFOLLOW: next to a -S socket the directory may be /tmp, where anyone can plant a
        # symlink; a file owned by someone else is refused for the same reason.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise RecoveryError(
                f"cannot open the lock file {self.path}: {exc.strerror}; check that its "
                "directory exists and is yours"
            ) from None
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise RecoveryError(
                f"the lock file {self.path} is not a regular file owned by you (uid "
                f"{os.geteuid()}); remove it, or choose another --state-dir or tmux socket"
            )
        return fd


_ATTEMPTS = 10


def _same_file(fd: int, path: Path) -> bool:
    """True iff ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def state_lock(state_dir: Path) -> InstanceLock:
    """The lock of a state directory (which must exist)."""
    path = Path(state_dir).expanduser().absolute()
    return InstanceLock(
        path / STATE_LOCK_NAME, f"the state directory {path}", "give this one its own --state-dir"
    )


def tmux_socket(socket_name: str | None, socket_path: str | Path | None) -> Path:
    """The socket file of a tmux server as tmux itself resolves ``-L``/``-S``/the default."""
    if socket_path is not None:
        return Path(socket_path).expanduser().absolute()
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    return Path(base) / f"tmux-{os.geteuid()}" / (socket_name or "default")


def server_lock(socket_name: str | None, socket_path: str | Path | None) -> InstanceLock:
    """The lock of the tmux server on that socket; creates tmux's socket directory if needed."""
    socket = tmux_socket(socket_name, socket_path)
    if socket_path is None:
        # tmux creates this directory 0700 on its first start; doing the same here lets the
        # daemon start before any tmux server does.
        with contextlib.suppress(FileExistsError):
            socket.parent.mkdir(mode=0o700, parents=True)
    label = f"-S {socket}" if socket_path is not None else f"-L {socket_name}"
    if socket_path is None and socket_name is None:
        label = "default"
    return InstanceLock(
        socket.with_name(socket.name + SERVER_LOCK_SUFFIX),
        f"the tmux server {label}",
        "point this one at another server ([tmux] socket_name or socket_path)",
    )
