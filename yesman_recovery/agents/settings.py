"""Installing the SessionStart hook in an agent's settings, merged with the user's own hooks.

Claude Code reads ``~/.claude/settings.json``, Gemini CLI ``~/.gemini/settings.json``; both
document the same shape. The hook is one entry of ``hooks.SessionStart`` — ``{"matcher": "",
"hooks": [{"type": "command", "command": "<yesman-recovery> agents hook claude-session-start"}]}``
— appended after the user's own entries, which are never replaced, reordered or rewritten. It is
ours when its command ends with that agent's :data:`HOOKS` arguments. Installing twice changes
nothing; removing it drops only our entry (and containers it leaves empty that were made for it),
so the user's hooks are exactly as they were. Before a change the file is copied to
``settings.json.yesman-recovery.bak`` and the new text replaces it atomically (same permissions). A
file that is not valid JSON, or whose ``hooks`` are not what Claude Code documents, is a
:class:`SettingsError` naming the file and the place, and nothing is written.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOOKS = {
    "claude": (".claude/settings.json", "agents hook claude-session-start"),
    "gemini": (".gemini/settings.json", "agents hook gemini-session-start"),
}
"""Agent → (its settings file under the home directory, our hook command's arguments)."""
HOOK_ARGS = HOOKS["claude"][1]
EVENT = "SessionStart"
BACKUP_SUFFIX = ".yesman-recovery.bak"


class SettingsError(ValueError):
    """The settings file cannot be changed safely; the message says where and why."""


def settings_path(home: Path | None = None, agent: str = "claude") -> Path:
    """``agent``'s settings file: ``~/.claude/settings.json``, ``~/.gemini/settings.json``."""
    base = home if home is not None else Path(os.environ.get("HOME") or Path.home())
    return base / HOOKS[agent][0]


def hook_command(executable: str | None = None, agent: str = "claude") -> str:
    """The command line of our hook: this ``yesman-recovery``'s absolute path, quoted."""
    running = sys.argv[0] if os.path.basename(sys.argv[0]) == "yesman-recovery" else None
    exe = executable or (running and os.path.abspath(running)) or shutil.which("yesman-recovery")
    exe = exe or "yesman-recovery"
    return f"{shlex.quote(exe)} {HOOKS[agent][1]}"


def _is_ours(hook: Any) -> bool:
    command = hook.get("command") if isinstance(hook, dict) else None
    return isinstance(command, str) and command.rstrip().endswith(
        tuple(args for _, args in HOOKS.values())
    )


def read_settings(path: Path) -> dict[str, Any]:
    """The settings in ``path`` (empty when there is no file); :class:`SettingsError` else."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsError(
            f"{path}: not valid JSON ({exc}); fix the file or move it aside, nothing was changed"
        ) from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: must hold a JSON object, got {type(data).__name__}")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError(f"{path}: `hooks` must be an object, got {type(hooks).__name__}")
    entries = hooks.get(EVENT, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SettingsError(f"{path}: `hooks.{EVENT}` must be a list of objects")
    for i, entry in enumerate(entries):
        if not isinstance(entry.get("hooks", []), list):
            raise SettingsError(f"{path}: `hooks.{EVENT}[{i}].hooks` must be a list")
    return data


def installed(data: dict[str, Any]) -> bool:
    """True iff ``data`` (read settings) holds our hook."""
    entries = data.get("hooks", {}).get(EVENT, [])
    return any(_is_ours(h) for e in entries for h in e.get("hooks", []))


def with_hook(data: dict[str, Any], command: str) -> dict[str, Any]:
    """``data`` with our hook (``command``) installed: unchanged if it is there already."""
    new = copy.deepcopy(data)
    entries = new.setdefault("hooks", {}).setdefault(EVENT, [])
    for entry in entries:
        for hook in entry.get("hooks", []):
            if _is_ours(hook):
                hook["command"] = command  # a moved executable: the same entry, updated
                return new
    entries.append({"matcher": "", "hooks": [{"type": "command", "command": command}]})
    return new


def without_hook(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with our hook removed, and the containers it leaves empty."""
    new = copy.deepcopy(data)
    hooks = new.get("hooks")
    if not isinstance(hooks, dict) or EVENT not in hooks:
        return new
    kept = []
    for entry in hooks[EVENT]:
        inner = entry.get("hooks", [])
        mine = [h for h in inner if _is_ours(h)]
        if not mine:
            kept.append(entry)
        elif len(mine) < len(inner):
            kept.append({**entry, "hooks": [h for h in inner if not _is_ours(h)]})
    if kept:
        hooks[EVENT] = kept
    else:
        del hooks[EVENT]
        if not hooks:
            del new["hooks"]
    return new


@dataclass(frozen=True)
class Change:
    """A change of the settings file: its text before and after (equal: nothing to do)."""

    path: Path
    before: str
    after: str

    @property
    def changes(self) -> bool:
        """True iff the file's content would change."""
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff of the change."""
        name = str(self.path)
        old = self.before.splitlines(keepends=True)
        new = self.after.splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, name, name + " (new)"))


def _text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def plan(path: Path, *, install: bool, command: str | None = None, agent: str = "claude") -> Change:
    """What installing (``install``) or removing our hook (``agent``'s) would do to ``path``."""
    data = read_settings(path)
    try:
        before = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = ""
    hook = command or hook_command(agent=agent)
    after_data = with_hook(data, hook) if install else without_hook(data)
    if after_data == data:
        return Change(path, before, before)
    return Change(path, before, _text(after_data))


def apply(change: Change) -> Path | None:
    """Write ``change`` (backup first, then an atomic replace); the backup's path, or None
    when nothing changed or there was no file before."""
    if not change.changes:
        return None
    # A settings file that is a symlink (a dotfiles repository) keeps its link: its target is
    # what changes.
    path = change.path.resolve() if change.path.is_symlink() else change.path
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    mode = 0o600
    if path.exists():
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        shutil.copy2(path, backup)
        mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(change.after)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return backup
