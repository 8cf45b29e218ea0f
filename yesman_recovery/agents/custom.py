"""An agent CLI the configuration describes (``[agents.NAME]``), for CLIs not built in.

It is recognised by its program names, reads a conversation id from ``id_flags`` on its
command line, drops the ``drop`` flags (its resume guesses, ``--continue`` and the like) on a
resume, appends ``resume`` with ``{id}`` replaced, and says a conversation exists when the
``conversations`` path pattern, with ``{home}``, ``{cwd}``, ``{cwd_slug}`` and ``{id}`` filled
in, names a file or directory (a glob: ``*`` allowed). Ids must be plain
(:data:`~yesman_recovery.agents.binding.SAFE_ID`), so an id is never a shell payload.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass

from yesman_recovery.agents.base import (
    Agent,
    home,
    is_safe_id,
    project_slug,
    recognised,
    split_head,
    take,
)


@dataclass(frozen=True, kw_only=True)
class ConfiguredAgent(Agent):
    """``[agents.NAME]`` (see the module docstring); checked by the configuration's schema."""

    name: str  # an instance field here, a class attribute in the base
    programs: tuple[str, ...]
    resume_words: tuple[str, ...]
    id_flags: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    conversations: str = ""

    def recognises(self, argv: Sequence[str]) -> bool:
        return recognised(argv, self.programs, ())

    def _parts(self, argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        head, args = split_head(argv)
        kept, ids = take(args, self.id_flags, (), self.drop)
        return head, kept, [i for i in ids if is_safe_id(i)]

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        ids = self._parts(argv)[2]
        return ids[-1] if ids else None

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, kept, _ = self._parts(argv)
        return [*head, *kept, *(w.replace("{id}", conversation) for w in self.resume_words)]

    def fresh(self, argv: Sequence[str]) -> list[str]:
        head, kept, _ = self._parts(argv)
        return [*head, *kept]

    def exists(self, conversation: str, cwd: str | None) -> bool:
        if not self.conversations:
            return True
        if not is_safe_id(conversation):
            return False
        values = {
            "home": str(home()),
            "cwd": cwd or "",
            "cwd_slug": project_slug(cwd or ""),
            "id": conversation,
        }
        pattern = self.conversations
        for key, value in values.items():
            pattern = pattern.replace("{" + key + "}", glob.escape(value))
        return bool(glob.glob(pattern))
