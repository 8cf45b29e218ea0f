"""Typing at a pane's prompt once its shell is there: how a restored program is started.

A pane the project creates starts the user's shell with the integration
(:mod:`.shell_integration`); its rc files may take seconds (nvm, conda, pyenv). Keys typed
before the shell reads its line would be echoed twice (once by the terminal, once by the line
editor) and may be read by a program the rc runs, so the command is typed only once the shell
reports its prompt (:func:`at_prompt`), then as the user would type it. A pane whose shell has
no integration (``sh``, ``dash``, ``nu``, a shell that an rc file ``exec``\\ ed) gets the
launcher line at once, as before; a known shell that has not reported within ``wait`` seconds
gets it then; one whose shell reports a command of its own still running is never typed into.
Each pane is typed into at most once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.plan import Command, PaneInput, input_commands
from yesman_recovery.tmux.protocol import Tmux
from yesman_recovery.tmux.records import PaneSnapshot
from yesman_recovery.tmux.shell_integration import integrated_shell, is_dispatch
from yesman_recovery.tmux.snapshot import read_cmdline

logger = logging.getLogger(__name__)

READY_WAIT = 30.0
"""Seconds a shell the integration knows gets to reach its first prompt before the command is
typed through the launcher anyway (an rc that ``exec``\\ s another shell never reports)."""
PROMPT_PAUSE = 0.02
"""Seconds between two looks while shells start."""


def at_prompt(pane: PaneSnapshot) -> str | None:
    """The integrated shell (``bash``…) of ``pane`` when it reports being at its prompt: it is
    the pane's own process (read from ``/proc``: the foreground may be the short ``tmux`` of its
    report) and no command it started is still running; else None. A shell with background
    jobs is at its prompt too."""
    if not pane.shell_reports or pane.dead:
        return None
    shell = integrated_shell(_own(pane) or pane.argv)
    if shell is None:
        return None
    return shell if pane.exit_status is not None or pane.cmd_line is None else None


def _own(pane: PaneSnapshot) -> tuple[str, ...] | None:
    """The argv of the pane's own process, or None when unreadable."""
    if pane.pid is None:
        return None
    try:
        return read_cmdline(pane.pid)
    except OSError:
        return None


def starting(pane: PaneSnapshot) -> bool:
    """True while the pane's shell may still report its prompt: the pane's own process (not the
    foreground one: rc files run commands) is still the tmux server's fork, or the integration's
    ``sh`` that has not ``exec``\\ ed the shell yet, or a known shell that has not reported."""
    if pane.pid is None or pane.dead or pane.shell_reports:
        return False
    own = _own(pane)
    if own is None:
        return False
    if not own or os.path.basename(own[0]) == "tmux":
        return True  # forked by the server, not yet exec'd
    return is_dispatch(own) or integrated_shell(own) is not None


def usable_shell_dir(client: Tmux, shell_dir: str | None) -> str | None:
    """``shell_dir`` when the server's ``default-shell`` (before it is up: ``$SHELL``) is one the
    integration knows, else None: panes of an ``sh``, ``dash`` or ``nu`` server are then built
    as before, with the launcher line typed at once, and wait for nothing."""
    if shell_dir is None:
        return None
    try:
        shell = client.run_chain([("show-options", "-gqv", "default-shell")]).strip()
    except TmuxError:
        # Not up yet: the restore starts it, with our SHELL unless its config says otherwise
        # (then its panes fall back to the launcher, or tell us when they report).
        shell = os.environ.get("SHELL", "")
    return shell_dir if integrated_shell((shell,)) is not None else None


def type_when_ready(
    client: Tmux,
    inputs: Mapping[str, PaneInput],
    *,
    wait: float = READY_WAIT,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str | None]:
    """Type each of ``inputs`` (by pane id) in its pane once it can be; returns, per pane typed
    into, the shell it was typed at as plain text (None: through the launcher). A pane that is
    gone or dead is skipped; after ``wait`` seconds every pane left gets the launcher."""
    pending = dict(inputs)
    typed: dict[str, str | None] = {}
    deadline = clock.monotonic() + wait
    while pending:
        panes = {p.pane_id: p for s in client.snapshot().sessions for p in s.panes()}
        late = clock.monotonic() >= deadline
        cmds: list[Command] = []
        for pane_id, text in list(pending.items()):
            pane = panes.get(pane_id)
            if pane is None or pane.dead:
                del pending[pane_id]
                continue
            shell = at_prompt(pane)
            if shell is None and (starting(pane) or pane.shell_reports):
                if not late:
                    continue
                if pane.shell_reports:  # a command of its own still runs: never type into it
                    logger.warning("pane %s is busy: %r not typed", pane_id, text.argv)
                    del pending[pane_id]
                    continue
            cmds += input_commands(("-t", pane_id), text, shell)
            typed[pane_id] = shell
            del pending[pane_id]
        if cmds:
            client.run_chain(cmds)
        if pending:
            sleep(PROMPT_PAUSE)
    return typed
