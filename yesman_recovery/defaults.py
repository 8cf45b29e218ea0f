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
        "vi", "vim", "nvim", "emacs", "nano", "hx", "helix", "micro", "less", "more", "man",
        # watching things
        "tail", "top", "htop", "btop", "watch", "journalctl",
        # dev servers and runtimes
        "npm", "npx", "pnpm", "yarn", "bun", "deno", "node", "python", "python3", "ipython",
        "uv", "cargo", "go", "make", "just",
    }
)  # fmt: skip
"""Programs restarted by default (``[tmux] programs``): agents, editors, pagers, monitors and dev
servers. Shells are deliberately absent: a pane back at its shell is a program that exited, not
one to re-run."""

DEFAULT_FROZEN_GRACE = 2.0
"""Seconds a program may stay stopped (state ``T``) before it counts as frozen; also how long
an unresponsive tmux server is waited for before it may be killed."""
