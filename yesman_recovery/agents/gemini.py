"""Gemini CLI (``gemini``) and Qwen Code (``qwen``, a Gemini CLI fork): ``--resume <id>``.

Gemini keeps each conversation in ``~/.gemini/tmp/<sha256 of the project dir>/chats/
session-<time>-<short id>.json`` (JSON: ``sessionId``, ``startTime``, ``lastUpdated``,
``messages``); Qwen Code in ``~/.qwen/projects/<dir, non-alphanumerics as '-'>/chats/<id>.jsonl``
(lines carry ``sessionId`` and ``timestamp``). ``--resume``/``-r`` alone (the latest) or with an
index, and Qwen's ``-c``/``--continue``, are guesses: dropped on a resume. Neither CLI holds its
file open nor tells which process writes it, so a hand-started one is bound by *evidence*
(:func:`yesman_recovery.agents.registry.bind_by_evidence`): a conversation that started while
that process lived, and no other pane's.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from yesman_recovery.agents.base import (
    Agent,
    Candidate,
    home,
    is_uuid,
    project_slug,
    recognised,
    split_head,
    take,
)

_HEAD_BYTES = 64 * 1024
_parsed: dict[str, tuple[int, Candidate | None]] = {}  # path → (size, parse); guarded by _lock
_lock = threading.Lock()


def _when(text: object, default: float) -> float:
    if not isinstance(text, str):
        return default
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def _cached(path: Path, parse: type[_Reader]) -> Candidate | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    key = str(path)
    with _lock:
        hit = _parsed.get(key)
    if hit is not None and hit[0] == stat.st_size and hit[1] is not None:
        return Candidate(hit[1].conversation, hit[1].started, stat.st_mtime)
    found = parse.read(path, stat.st_mtime)
    with _lock:
        if len(_parsed) > 4096:
            _parsed.clear()
        _parsed[key] = (stat.st_size, found)
    return found


class _Reader:
    @staticmethod
    def read(path: Path, mtime: float) -> Candidate | None:
        raise NotImplementedError


class _GeminiChat(_Reader):
    @staticmethod
    def read(path: Path, mtime: float) -> Candidate | None:
        try:
            data = json.loads(path.read_bytes())
            conversation = data.get("sessionId")
        except (OSError, ValueError, AttributeError):
            return None  # half-written or foreign: not evidence
        if not is_uuid(conversation):
            return None
        return Candidate(conversation.lower(), _when(data.get("startTime"), mtime), mtime)


class _QwenChat(_Reader):
    @staticmethod
    def read(path: Path, mtime: float) -> Candidate | None:
        if not is_uuid(path.stem):
            return None
        try:
            with open(path, "rb") as f:
                first = json.loads(f.read(_HEAD_BYTES).split(b"\n", 1)[0])
            started = _when(first.get("timestamp"), mtime)
        except (OSError, ValueError, AttributeError):
            started = mtime
        return Candidate(path.stem.lower(), started, mtime)


class Gemini(Agent):
    """Gemini CLI (see the module docstring)."""

    name = "gemini"
    names: tuple[str, ...] = ("gemini",)
    packages: tuple[str, ...] = ("/@google/gemini-cli/",)
    bare: tuple[str, ...] = ()

    def recognises(self, argv: Sequence[str]) -> bool:
        return recognised(argv, self.names, self.packages)

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        _, args = split_head(argv)
        _, ids = take(args, ("--resume",), ("-r",))
        found = [i for i in ids if is_uuid(i)]
        return found[-1].lower() if found else None

    def _kept(self, argv: Sequence[str]) -> tuple[list[str], list[str]]:
        head, args = split_head(argv)
        kept, _ = take(args, (), ("--resume", "-r"), self.bare)
        return head, kept

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, kept = self._kept(argv)
        return [*head, *kept, "--resume", conversation]

    def fresh(self, argv: Sequence[str]) -> list[str]:
        head, kept = self._kept(argv)
        return [*head, *kept]

    def chats(self, cwd: str) -> Path:
        """The directory of ``cwd``'s conversations."""
        digest = hashlib.sha256(cwd.encode("utf-8", "surrogateescape")).hexdigest()
        return home() / ".gemini" / "tmp" / digest / "chats"

    def _files(self, cwd: str) -> list[Path]:
        try:
            return [p for p in self.chats(cwd).iterdir() if p.name.startswith("session-")]
        except OSError:
            return []  # no conversations yet, or an unreadable directory: no evidence

    def candidates(self, cwd: str) -> list[Candidate]:
        found = (_cached(p, _GeminiChat) for p in self._files(cwd))
        return [c for c in found if c is not None]

    def exists(self, conversation: str, cwd: str | None) -> bool:
        return bool(cwd) and any(c.conversation == conversation for c in self.candidates(cwd or ""))


class Qwen(Gemini):
    """Qwen Code: Gemini CLI's flags, its own store (see the module docstring)."""

    name = "qwen"
    names = ("qwen",)
    packages = ("/@qwen-code/qwen-code/",)
    bare = ("--continue", "-c")

    def chats(self, cwd: str) -> Path:
        return home() / ".qwen" / "projects" / project_slug(cwd) / "chats"

    def _files(self, cwd: str) -> list[Path]:
        try:
            return [p for p in self.chats(cwd).iterdir() if p.suffix == ".jsonl"]
        except OSError:
            return []

    def candidates(self, cwd: str) -> list[Candidate]:
        found = (_cached(p, _QwenChat) for p in self._files(cwd))
        return [c for c in found if c is not None]

    def exists(self, conversation: str, cwd: str | None) -> bool:
        return (
            bool(cwd)
            and is_uuid(conversation)
            and (self.chats(cwd or "") / f"{conversation}.jsonl").is_file()
        )
