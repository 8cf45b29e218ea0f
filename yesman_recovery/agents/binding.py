"""An agent pane's binding: the conversation it is on, and how that is known.

The binding is the agent's name, the conversation's id, and how that was learnt
(:class:`Source`). It is stored on the pane's checkpoint record, so this module imports nothing
of the package: the tmux records use it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CONVERSATION_OPTION = "@yr_agent_conversation"
"""Pane option the agent hook writes: the conversation id the agent announced."""
PIDS_OPTION = "@yr_agent_pids"
"""Pane option the agent hook writes: its ancestors' pids (the agent's process among them)."""
PATH_PLACEHOLDERS = ("home", "cwd", "cwd_slug", "id")
"""The placeholders an ``[agents.NAME]`` table's ``conversations`` may hold."""
RESUME_PLACEHOLDERS = ("id",)
"""The placeholders an ``[agents.NAME]`` table's ``resume`` may hold."""
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""A conversation id of a CLI whose ids are not UUIDs (``ses_…``, ``20251108_1``): letters,
digits and ``._:-`` only, so no id can be a shell payload or an option."""


class Source(enum.StrEnum):
    """How a pane's conversation is known, strongest first."""

    HOOK = "hook"  # the agent's own hook said so (Claude Code's SessionStart)
    OPEN_FILE = "open file"  # the agent's process holds its conversation file open (Codex)
    COMMAND_LINE = "command line"  # an id on the program's command line
    EVIDENCE = "evidence"  # a conversation file written while that process lived


@dataclass(frozen=True)
class Binding:
    """The conversation ``conversation`` of agent ``agent``, known by ``source``."""

    agent: str
    conversation: str
    source: Source

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"agent": self.agent, "id": self.conversation, "source": self.source.value}

    @classmethod
    def from_dict(cls, data: object) -> Binding | None:
        """A binding read back from :meth:`to_dict`, or None when ``data`` is not one."""
        if not isinstance(data, dict):
            return None
        agent, conversation, source = data.get("agent"), data.get("id"), data.get("source")
        if not (isinstance(agent, str) and isinstance(conversation, str)):
            return None
        if not SAFE_ID.match(conversation) and not conversation.startswith("/"):
            return None
        try:
            return cls(agent, conversation, Source(str(source)))
        except ValueError:
            return None


def is_uuid(text: str | None) -> bool:
    """True iff ``text`` is a UUID (``8-4-4-4-12`` hex digits)."""
    return bool(text) and bool(UUID.match(text or ""))


def is_safe_id(text: str | None) -> bool:
    """True iff ``text`` is a plain id (see :data:`SAFE_ID`)."""
    return bool(text) and bool(SAFE_ID.match(text or ""))
