"""The ``[agents.NAME]`` table: an agent CLI that is not built in, and how it resumes.

```toml
[agents.crush]
programs = ["crush"]                      # program names that are this agent
id_flags = ["--session", "-s"]            # flags whose value is a conversation id
drop = ["--continue", "-c"]               # resume guesses, dropped on a resume
resume = ["--session", "{id}"]            # appended to the user's other flags
conversations = "{home}/.local/share/crush/sessions/{id}.json"   # optional; a glob
```

``resume`` must hold ``{id}``; ``conversations`` may hold ``{home}``, ``{cwd}``, ``{cwd_slug}``
and ``{id}`` and must hold ``{id}``. Any other ``{…}`` is an error naming the key and what is
allowed. A name that is a built-in agent's is refused: built-ins are not overridden here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict

from yesman_recovery.agents.binding import PATH_PLACEHOLDERS, RESUME_PLACEHOLDERS
from yesman_recovery.config import validators as v

if TYPE_CHECKING:
    from yesman_recovery.agents.custom import ConfiguredAgent

__all__ = ["AgentTable", "agent_name"]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FLAG = re.compile(r"^-{1,2}[A-Za-z0-9][A-Za-z0-9-]*$")


def _placeholders(text: str, allowed: tuple[str, ...]) -> None:
    allowed_text = ", ".join("{" + p + "}" for p in allowed)
    for found in _PLACEHOLDER.findall(text):
        if found not in allowed:
            raise ValueError(
                f"unknown placeholder {{{found}}} in {text!r}; allowed: {allowed_text}"
            )
    if "{id}" not in text:
        raise ValueError(f"must hold {{id}} (the conversation id), got {text!r}")


def _words(value: object) -> tuple[str, ...]:
    if isinstance(value, list) and value and all(isinstance(w, str) and w for w in value):
        return tuple(value)
    raise ValueError('must be a non-empty array of strings, e.g. ["--session", "{id}"]')


def _resume(value: object) -> tuple[str, ...]:
    words = _words(value)
    for word in words:
        for found in _PLACEHOLDER.findall(word):
            if found not in RESUME_PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{found}}} in {word!r}; allowed: {{id}}")
    if not any("{id}" in w for w in words):
        raise ValueError(f"must hold {{id}} (the conversation id), got {list(words)!r}")
    return words


def _flags(value: object) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(w, str) and _FLAG.match(w) for w in value):
        return tuple(value)
    raise ValueError('must be an array of flags, e.g. ["--session", "-s"]')


def _path(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError('must be a path pattern, e.g. "{home}/.crush/sessions/{id}.json"')
    _placeholders(value, PATH_PLACEHOLDERS)
    return value


def agent_name(name: str, builtin: tuple[str, ...]) -> str | None:
    """Why ``name`` cannot name an ``[agents]`` table, or None."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", name):
        return f"agent names are letters, digits, '-' and '_' (at most 40), got {name!r}"
    if name in builtin:
        return f"{name!r} is a built-in agent; choose another name for a CLI that is not built in"
    return None


class AgentTable(BaseModel):
    """``[agents.NAME]``: see the module docstring."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    programs: Annotated[frozenset[str], v.checked(v.programs)]
    resume: Annotated[tuple[str, ...], v.checked(_resume)]
    id_flags: Annotated[tuple[str, ...], v.checked(_flags)] = ()
    drop: Annotated[tuple[str, ...], v.checked(_flags)] = ()
    conversations: Annotated[str, v.checked(_path)] = ""

    def build(self, name: str) -> ConfiguredAgent:
        """The agent strategy this table describes."""
        from yesman_recovery.agents.custom import ConfiguredAgent  # the tmux layer: on use only

        return ConfiguredAgent(
            name=name,
            programs=tuple(sorted(self.programs)),
            resume_words=self.resume,
            id_flags=self.id_flags,
            drop=self.drop,
            conversations=self.conversations,
        )
