"""The built-in heals: a command, pruning the store and old files, handing over to sessions.

Each factory returns a :class:`HealAction`. Heals run on the check's worker thread; a command
heal is bounded by its own timeout (``heal_timeout``) and killed with its process group after
it, its exit status and output tail recorded either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yesman_recovery.health.check import HealAction, HealResult
from yesman_recovery.health.command import Command, run_command

if TYPE_CHECKING:
    from yesman_recovery.storage import RetentionPolicy, Store

logger = logging.getLogger(__name__)


def command_heal(command: Command, timeout: float) -> HealAction:
    """Run ``command``; success iff it exits 0 within ``timeout`` seconds."""
    text = command if isinstance(command, str) else " ".join(command)

    def run() -> HealResult:
        outcome = run_command(command, timeout)
        result = "timeout" if outcome.timed_out else "success" if outcome.ok else "failed"
        return HealResult(result, outcome.describe(timeout), outcome.exit_status, outcome.output)

    return HealAction(f"command:{text}", run, f"run {text!r}")


def prune_files(directory: Path, older_than: float, now: float | None = None) -> tuple[int, int]:
    """Delete regular files under ``directory`` not modified for ``older_than`` seconds.

    Symlinks are never followed or removed. Returns (files removed, bytes freed).
    """
    cutoff = (time.time() if now is None else now) - older_than
    removed = freed = 0
    for root, _dirs, files in os.walk(directory, followlinks=False):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                if not os.path.isfile(path) or os.path.islink(path) or st.st_mtime > cutoff:
                    continue
                os.unlink(path)
            except OSError:
                continue
            removed += 1
            freed += st.st_size
    return removed, freed


def prune_heal(
    store: Store | None,
    retention: RetentionPolicy | None,
    directories: Sequence[Path] = (),
    older_than: float = 7 * 86400.0,
) -> HealAction:
    """Prune the store by ``retention``, then delete files older than ``older_than`` seconds
    under each of ``directories``. Fails only when nothing could be done at all."""

    def run() -> HealResult:
        parts: list[str] = []
        errors: list[str] = []
        if store is not None and retention is not None:
            try:
                report = store.maintain(retention)
                parts.append(
                    f"store: {len(report.pruned.dropped)} checkpoint(s), "
                    f"{report.pruned.freed_bytes} bytes pruned"
                )
            except Exception as exc:  # a full disk can make the prune itself fail
                errors.append(f"store prune failed: {exc}")
        for directory in directories:
            if not directory.is_dir():
                errors.append(f"{directory}: not a directory")
                continue
            n, freed = prune_files(directory, older_than)
            parts.append(f"{directory}: {n} file(s), {freed} bytes deleted")
        detail = "; ".join(parts + errors) or "nothing to prune"
        return HealResult("failed" if errors and not parts else "success", detail)

    key = f"prune:{store.path if store is not None else ''}:{','.join(map(str, directories))}"
    return HealAction(key, run, "prune the store by retention, then old files")


def sessions_handover(watcher: Callable[[], Any]) -> HealAction:
    """Ask the tmux watcher (``watcher()`` gives its current ref, or None) to observe now.

    Session recovery owns bringing a tmux server and its sessions back; this heal only makes
    it look at once instead of at its next poll, so there is one recovery path, not two.
    """

    def run() -> HealResult:
        ref = watcher()
        if ref is None:
            return HealResult("failed", "the tmux watcher is not running")
        with contextlib.suppress(Exception):
            ref.proxy().poll.defer()
            return HealResult("handed_over", "session recovery asked to observe the server now")
        return HealResult("failed", "the tmux watcher did not take the request")

    return HealAction("sessions", run, "hand over to session recovery")
