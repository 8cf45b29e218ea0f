"""Defaults that more than one layer reads, each written once (no imports: any layer may use it).

The configuration (:mod:`yesman_recovery.config.model`) uses them for absent keys; the tmux
layer's :class:`~yesman_recovery.tmux.policy.ProgramPolicy` and the actors' settings default to
them, so code built without a configuration behaves like the built-in one.
"""

from __future__ import annotations

DEFAULT_PROGRAMS: frozenset[str] = frozenset(
    {
        # AI coding agents
        "claude", "codex", "aider", "gemini", "goose", "opencode", "cursor-agent", "amp", "qwen",
        # editors and pagers
        "vi", "vim", "nvim", "emacs", "nano", "hx", "helix", "micro", "kak", "less", "more",
        "man", "most",
        # monitors
        "tail", "top", "htop", "btop", "journalctl", "k9s",
    }
)  # fmt: skip
"""Programs that are ``transient`` by default (``[tmux] programs``): they come back after an
abnormal end. Anything else is ``temporary`` — build, package and run tools, one-shot commands,
``watch`` (it re-runs an arbitrary command) — and is never re-run behind the user's back."""

DEFAULT_FROZEN_GRACE = 1.5
"""Seconds a program may stay stopped (state ``T``) before it counts as frozen; also how long
an unresponsive tmux server is waited for before it may be killed.

Counted from the first poll that sees the stop (a stop leaves no timestamp), so with the
default 1 s poll a program has been stopped 1.5 to 2.5 s when it is sent SIGCONT: long enough
that a program is seen stopped at two looks, short enough that a frozen agent runs again within
3 s."""
