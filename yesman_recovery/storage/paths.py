"""Where the store lives, and the permission checks that keep it private.

The state directory holds checkpoints of sessions (working directories, command lines) and the
audit trail, so it must be readable by its owner alone. It is created ``0700``; an existing one
that is group- or world-accessible, or owned by another user, is refused rather than repaired:
fixing someone else's directory silently, or writing root-owned files into a user's directory
(which would lock the user's own daemon out), is worse than a clear message.
"""

from __future__ import annotations

import logging
import os
import shlex
import stat
from pathlib import Path

from yesman_recovery.errors import StoreError

logger = logging.getLogger(__name__)

APP_NAME = "yesman-recovery"
DIR_MODE = 0o700
FILE_MODE = 0o600


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/yesman-recovery``, else ``~/.local/state/yesman-recovery``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG base directory specification says.
    """
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / APP_NAME


def prepare_state_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing and check that it is private; the absolute path.

    Raises :class:`StoreError` naming the directory, what is wrong and the command that fixes it.
    """
    path = path.expanduser().absolute()
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # created concurrently by another process; checked below like any other
        except OSError as exc:
            raise StoreError(f"cannot create the state directory {path}: {exc}") from None
        logger.info("created state directory %s", path)
    check_private(path, directory=True)
    return path


def check_private(path: Path, *, directory: bool) -> None:
    """Refuse ``path`` unless it is ours and accessible only by us (``StoreError`` if not)."""
    try:
        # a symlinked state directory is followed (e.g. onto another disk); store files are not
        info = path.stat() if directory else path.lstat()
    except OSError as exc:
        raise StoreError(f"cannot inspect {path}: {exc}") from None
    kind = "directory" if directory else "file"
    if directory and not stat.S_ISDIR(info.st_mode):
        raise StoreError(f"the state directory {path} exists but is not a directory")
    if not directory and not stat.S_ISREG(info.st_mode):
        raise StoreError(f"the store file {path} is not a regular file")
    uid = os.geteuid()
    if info.st_uid != uid:
        raise StoreError(
            f"the state {kind} {path} is owned by uid {info.st_uid}, not by you (uid {uid}); "
            "run yesman-recovery as its owner, or choose another directory with --state-dir"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        wanted = DIR_MODE if directory else FILE_MODE
        raise StoreError(
            f"the state {kind} {path} has mode {mode:04o}, so other users can reach it; it must "
            f"be private to its owner: run `chmod {wanted:o} {shlex.quote(str(path))}`"
        )
