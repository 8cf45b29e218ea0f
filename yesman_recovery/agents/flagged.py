"""CLIs whose conversation is named on their command line: opencode, cursor-agent, goose, and
Aider, whose conversation is its project's chat history file.

- **opencode**: ``-s``/``--session <id>`` (``ses_…``); ``-c``/``--continue`` (the last) and
  ``--fork`` are dropped on a resume. Its store is a database; an id from the command line is
  trusted to exist.
- **cursor-agent** (also installed as ``agent``): ``--resume <chat id>``; ``--continue`` and the
  ``resume`` command (the latest) are dropped. Chats live in ``~/.cursor/chats/<md5 of the
  workspace>/<chat id>/``.
- **goose**: ``goose session --resume --session-id <id>``; ``-r``/``--resume`` alone (the
  latest) is dropped on a fresh start. Its store is a database: an id is trusted to exist.
- **Aider**: no ids; ``--restore-chat-history`` reloads the project's ``.aider.chat.history.md``
  (or ``--chat-history-file``). Two aiders in one directory share that file, so only one pane
  is bound to it (see :func:`yesman_recovery.agents.registry.distinct`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from yesman_recovery.agents.base import Agent, home, is_safe_id, recognised, split_head, take
from yesman_recovery.tmux.programs import program_name


class _Flagged(Agent):
    """A CLI resumed by ``<flag> <id>``, its guesses (``--continue``, …) dropped."""

    names: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    flag = ""
    valued: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    bare: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()  # leading words that are a resume guess (``resume``)

    def recognises(self, argv: Sequence[str]) -> bool:
        return recognised(argv, self.names, self.packages)

    def _parts(self, argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        head, args = split_head(argv)
        if args[:1] and args[0] in self.commands:
            args = args[1:]
        kept, ids = take(args, self.valued, self.optional, self.bare)
        return head, kept, [i for i in ids if is_safe_id(i)]

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        ids = self._parts(argv)[2]
        return ids[-1] if ids else None

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, kept, _ = self._parts(argv)
        return [*head, *kept, self.flag, conversation]

    def fresh(self, argv: Sequence[str]) -> list[str]:
        head, kept, _ = self._parts(argv)
        return [*head, *kept]


class Opencode(_Flagged):
    """opencode (see the module docstring)."""

    name = "opencode"
    names = ("opencode",)
    packages = ("/opencode-ai/",)
    flag = "--session"
    valued = ("--session", "-s")
    bare = ("--continue", "-c", "--fork")


class CursorAgent(_Flagged):
    """cursor-agent (see the module docstring)."""

    name = "cursor-agent"
    names = ("cursor-agent",)
    packages = ("/cursor-agent/",)
    flag = "--resume"
    optional = ("--resume",)
    bare = ("--continue",)
    commands = ("resume",)

    def recognises(self, argv: Sequence[str]) -> bool:
        if super().recognises(argv):
            return True
        # ``agent`` is cursor-agent only when it resolves into cursor-agent's install.
        return (
            bool(argv) and program_name(argv) == "agent" and "cursor" in os.path.realpath(argv[0])
        )

    def exists(self, conversation: str, cwd: str | None) -> bool:
        return any((home() / ".cursor" / "chats").glob(f"*/{conversation}"))


class Goose(_Flagged):
    """goose (see the module docstring)."""

    name = "goose"
    names = ("goose",)
    valued = ("--session-id", "--id")
    bare = ("--resume", "-r")

    def recognises(self, argv: Sequence[str]) -> bool:
        _, args = split_head(argv)
        return super().recognises(argv) and args[:1] == ["session"]

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, kept, _ = self._parts(argv)
        return [*head, *kept, "--resume", "--session-id", conversation]


class Aider(Agent):
    """Aider (see the module docstring)."""

    name = "aider"

    def recognises(self, argv: Sequence[str]) -> bool:
        return recognised(argv, ("aider",), ())

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        _, args = split_head(argv)
        _, files = take(args, ("--chat-history-file",))
        if not files:
            return None
        path = Path(cwd or "/", files[-1]) if cwd or files[-1].startswith("/") else None
        return None if path is None else os.path.normpath(path)

    def default_conversation(self, cwd: str | None) -> str | None:
        """The project's own history file, when there is one."""
        if not cwd:
            return None
        path = Path(cwd) / ".aider.chat.history.md"
        return str(path) if path.is_file() else None

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, args = split_head(argv)
        kept, _ = take(args, (), (), ("--restore-chat-history", "--no-restore-chat-history"))
        return [*head, *kept, "--restore-chat-history"]

    def fresh(self, argv: Sequence[str]) -> list[str]:
        head, args = split_head(argv)
        kept, _ = take(args, (), (), ("--restore-chat-history",))
        return [*head, *kept]

    def exists(self, conversation: str, cwd: str | None) -> bool:
        return os.path.isfile(conversation)
