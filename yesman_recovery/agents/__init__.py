"""Agent CLIs: which conversation each agent pane is on, and how it resumes exactly that one.

One small strategy per CLI (:mod:`.claude`, :mod:`.codex`, :mod:`.gemini`, :mod:`.flagged`,
and the ``[agents.NAME]`` ones of :mod:`.custom`), the binding of running panes
(:mod:`.registry`), the decision of what a restored pane starts (:mod:`.resumes`), and the
Claude Code hook (:mod:`.hook`, :mod:`.settings`). Pure: no tmux, no actors.

The names below are imported on first use (PEP 562): the hook command imports
:mod:`.hook` alone and must start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yesman_recovery.agents.base import Agent
    from yesman_recovery.agents.binding import Binding, Source
    from yesman_recovery.agents.registry import BUILTIN, DEFAULT_AGENTS, Agents, bind_panes

__all__ = ["BUILTIN", "DEFAULT_AGENTS", "Agent", "Agents", "Binding", "Source", "bind_panes"]
_HOMES = {
    "Agent": "base", "Binding": "binding", "Source": "binding",
    "BUILTIN": "registry", "DEFAULT_AGENTS": "registry", "Agents": "registry",
    "bind_panes": "registry",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
