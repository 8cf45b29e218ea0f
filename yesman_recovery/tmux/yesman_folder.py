"""Where yesman-claude's sessions are: a sessions folder found as yesman finds it, or a legacy
``projects.yaml``; which session each file declares.

The folder is searched recursively for ``*.yaml`` and ``*.yml``; a session is named by its file's
stem, prefixed by its sub-folders (``development/frontend.yaml`` → ``development-frontend``).
Skipped: files starting with ``_`` (yesman's convention for examples and bases), hidden files and
folders (``.git``, editors' swap files), a ``.yml`` when a ``.yaml`` of the same name exists.
Symlinked folders are followed once: a link back into a folder already searched (a loop) is not
followed and reported. At most :data:`MAX_FILES` session files, :data:`MAX_DEPTH` folders deep and
:data:`MAX_ENTRIES` entries looked at; beyond that the search stops and says so. Every problem is
returned as a line naming the path, never raised: one bad file or folder never hides the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.spec import read_yaml

MAX_FILES = 1000
MAX_DEPTH = 16
MAX_ENTRIES = 20_000
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SessionFile:
    """One declared session: its name, its file, and its key in a ``projects.yaml``."""

    name: str
    path: Path
    entry: str | None = None

    @property
    def origin(self) -> str:
        """The file (and key) it came from, as ``sessions list`` shows it."""
        return f"{self.path} (sessions.{self.entry})" if self.entry else str(self.path)


def find_session_files(folder: Path) -> tuple[list[SessionFile], list[str]]:
    """Every session file under ``folder`` (sorted by name), and the problems met."""
    found: dict[str, SessionFile] = {}
    problems: list[str] = []
    seen_dirs: set[tuple[int, int]] = set()
    budget = [MAX_ENTRIES]
    try:
        top = folder.stat()
    except OSError as exc:
        return [], [f"{folder}: cannot read the sessions folder: {exc.strerror or exc}"]
    seen_dirs.add((top.st_dev, top.st_ino))
    _walk(folder, (), found=found, problems=problems, seen=seen_dirs, budget=budget)
    return sorted(found.values(), key=lambda f: f.name), problems


def _walk(
    folder: Path,
    parts: tuple[str, ...],
    *,
    found: dict[str, SessionFile],
    problems: list[str],
    seen: set[tuple[int, int]],
    budget: list[int],
) -> None:
    if len(parts) > MAX_DEPTH:
        problems.append(f"{folder}: more than {MAX_DEPTH} folders deep; not searched")
        return
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append(f"{folder}: cannot read the folder: {exc.strerror or exc}")
        return
    names = {e.name for e in entries}
    for entry in entries:
        budget[0] -= 1
        if budget[0] < 0:
            if budget[0] == -1:
                problems.append(
                    f"{folder}: more than {MAX_ENTRIES} entries in the sessions folder; the "
                    "search stopped here (point sessions_dir at the folder of session files)"
                )
            return
        if entry.name.startswith((".", "_")):
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            try:
                st = path.stat()
            except OSError as exc:
                problems.append(f"{path}: cannot read the folder: {exc.strerror or exc}")
                continue
            if (st.st_dev, st.st_ino) in seen:
                problems.append(f"{path}: a symlink loop (a folder already searched); not followed")
                continue
            seen.add((st.st_dev, st.st_ino))
            _walk(
                path, (*parts, entry.name), found=found, problems=problems, seen=seen, budget=budget
            )
            continue
        stem, suffix = os.path.splitext(entry.name)
        if suffix not in SUFFIXES or not stem:
            continue
        if suffix == ".yml" and f"{stem}.yaml" in names:
            continue  # yesman reads the .yaml
        name = "-".join((*parts, stem))
        if name in found:
            problems.append(
                f"{path}: declares session {name!r}, as {found[name].path} does; rename one"
            )
            continue
        if len(found) >= MAX_FILES:
            problems.append(f"{path}: more than {MAX_FILES} session files; the rest are not read")
            budget[0] = -2
            return
        found[name] = SessionFile(name, path)


def projects_entries(path: Path) -> tuple[list[SessionFile], list[str]]:
    """The sessions of a legacy ``projects.yaml`` (its ``sessions:`` map), and the problems."""
    try:
        raw = read_yaml(path)
    except SpecError as exc:
        return [], [str(exc)]
    sessions = raw.get("sessions") if isinstance(raw, dict) else None
    if not isinstance(sessions, dict):
        return [], [f"{path}: key `sessions` must be a mapping of session names to sessions"]
    out, problems = [], []
    for key in sessions:
        if not isinstance(key, str) or not key.strip():
            problems.append(f"{path}: key `sessions.{key}`: a session name must be a string")
            continue
        out.append(SessionFile(key, path, entry=key))
    return out, problems
