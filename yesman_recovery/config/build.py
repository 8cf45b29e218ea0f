"""What the daemon and the CLI build from a configuration: the tmux client and program policies.

One place, so ``yesman-recovery run`` and ``yesman-recovery sessions save/restore`` talk to the
same server with the same timeout and restart the same programs. Not imported by
:mod:`yesman_recovery.config` itself: the CLI imports it only in the commands that need tmux.
"""

from __future__ import annotations

from collections.abc import Sequence

from yesman_recovery.actors.limits import GiveUpBackoff
from yesman_recovery.agents.registry import BUILTIN, DEFAULT_AGENTS, Agents
from yesman_recovery.config.model import Config
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.programs import ProgramRestart, RestartRule


def agents(config: Config) -> Agents:
    """The agent CLIs of ``config``: its ``[agents.NAME]`` tables, then the built-in ones."""
    if not config.agents:
        return DEFAULT_AGENTS
    return Agents((*config.agents, *BUILTIN))


def tmux_client(config: Config, launcher: Sequence[str] = ()) -> TmuxClient:
    """The client of the configured server (``[tmux] socket_name`` / ``socket_path``).

    ``launcher``: what a call that starts the server runs through (the daemon's placement,
    ``yesman_recovery.tmux.placement``); the CLI passes none, as a user's own ``tmux`` does.
    """
    tmux = config.tmux
    return TmuxClient(
        socket_name=tmux.socket_name,
        socket_path=None if tmux.socket_path is None else str(tmux.socket_path),
        timeout=tmux.command_timeout,
        launcher=launcher,
        agents=agents(config),
    )


def program_policy(config: Config, session: str | None = None) -> ProgramPolicy:
    """The policy of session ``session``: ``[tmux.restart]`` rules first, then ``[tmux]
    programs`` plus the session's own ``programs`` as ``transient``; programs its spec declares
    take the session's ``restart`` type (set by the session actor once the spec is loaded).

    An adopted (undeclared) session, or None, gets the ``[tmux]`` settings alone.
    """
    programs = config.tmux.programs
    declared = config.session(session) if session is not None else None
    restart = ProgramRestart.PERMANENT
    if declared is not None:
        programs = programs | declared.programs
        restart = ProgramRestart(declared.restart.value)
    rules = tuple(RestartRule(p, ProgramRestart(kind)) for p, kind in config.tmux.restart)
    return ProgramPolicy.from_names(
        programs | {a.name for a in config.agents} | {p for a in config.agents for p in a.programs},
        rules,
        declared_restart=restart,
        agents=agents(config),
    )


def frozen_grace(config: Config, session: str | None = None) -> float:
    """The frozen grace of session ``session``: its own if it sets one, else ``[tmux]``'s."""
    declared = config.session(session) if session is not None else None
    if declared is not None and declared.frozen_grace is not None:
        return declared.frozen_grace
    return config.tmux.frozen_grace


def give_up_backoff(config: Config) -> GiveUpBackoff:
    """The re-arm backoff of a failure kind given up on (``[tmux] give_up_*``)."""
    tmux = config.tmux
    return GiveUpBackoff(tmux.give_up_backoff, tmux.give_up_backoff_max, tmux.give_up_reset)


def shell_dir(config: Config) -> str | None:
    """The shell integration's files for panes the project creates (``[tmux]
    shell_integration``), written if missing; None when off or when they cannot be written."""
    if not config.tmux.shell_integration:
        return None
    from yesman_recovery.tmux.shell_integration import integration_dir

    return integration_dir()
