"""tmux: a client with timeouts and batching, snapshots, specs and restore plans (no actors)."""

from __future__ import annotations

from yesman_recovery.defaults import DEFAULT_PROGRAMS
from yesman_recovery.tmux.client import (
    TmuxClient,
    literal,
    stored_session_name,
    unvis,
    wait_pid_gone,
)
from yesman_recovery.tmux.compare import compare, layout_differences, parse_layout
from yesman_recovery.tmux.layout import PRESETS, layout_problem
from yesman_recovery.tmux.policy import DEFAULT_SHELLS, ProgramPolicy
from yesman_recovery.tmux.programs import (
    ProgramRestart,
    RestartRule,
    launch_line,
    program_name,
    restart_type,
)
from yesman_recovery.tmux.records import (
    PaneSnapshot,
    ServerSnapshot,
    SessionSnapshot,
    WindowSnapshot,
    choose_checkpoint,
)
from yesman_recovery.tmux.restore import (
    RestorePlan,
    RestoreResult,
    execute_plan,
    plan_repair,
    plan_restore,
    respawn_pane,
    restore_session,
)
from yesman_recovery.tmux.snapshot import foreground_program, take_snapshot
from yesman_recovery.tmux.spec import check_spec, load_spec

__all__ = [
    "DEFAULT_PROGRAMS",
    "DEFAULT_SHELLS",
    "PRESETS",
    "PaneSnapshot",
    "ProgramPolicy",
    "ProgramRestart",
    "RestartRule",
    "RestorePlan",
    "RestoreResult",
    "ServerSnapshot",
    "SessionSnapshot",
    "TmuxClient",
    "WindowSnapshot",
    "check_spec",
    "choose_checkpoint",
    "compare",
    "execute_plan",
    "foreground_program",
    "launch_line",
    "layout_differences",
    "layout_problem",
    "literal",
    "load_spec",
    "parse_layout",
    "plan_repair",
    "plan_restore",
    "program_name",
    "respawn_pane",
    "restart_type",
    "restore_session",
    "stored_session_name",
    "take_snapshot",
    "unvis",
    "wait_pid_gone",
]
