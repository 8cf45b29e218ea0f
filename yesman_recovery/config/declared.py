"""The declared sessions with their specs read: ``[[sessions]]`` plus ``[yesman]``'s files.

:func:`resolve` reads every spec a configuration names — each ``[[sessions]] spec`` (tmuxp or
yesman-claude format, :mod:`yesman_recovery.tmux.yesman`), every file of ``[yesman]
sessions_dir`` and every entry of ``[yesman] projects`` — and returns the configuration with
each session's spec read (``loaded``) or the reason it cannot be (``spec_error``), a report per
file for ``config check``, and the problems of the folders themselves. It never raises for a bad
file: at start a session whose spec fails is ``failed`` alone with the reason; ``config check``
and ``reload`` refuse any error (exit 2; the running configuration is kept).

Names: a ``[[sessions]]`` entry keeps its name. A file of the folder declares the session its
``session_name`` names (as ``yesman setup`` creates it: the override's, else the file's own,
else the file's name with its sub-folders, ``development-frontend``); an unreadable file
declares its file name, ``failed``. A ``[[sessions]]`` entry without ``spec`` whose name is a
file's (either name) takes that file as its spec, so its restart type and programs can be set;
the folder does not declare it a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from yesman_recovery.config.model import Config, SessionConfig
from yesman_recovery.config.yesman import YesmanConfig
from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.yesman import LoadedSpec, load_session_file, named
from yesman_recovery.tmux.yesman_folder import (
    SessionFile,
    find_session_files,
    projects_entries,
)


@dataclass(frozen=True)
class SpecReport:
    """One spec read: for which session, from where, and what came of it."""

    session: str
    origin: str
    files: tuple[Path, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve` found; ``errors`` is empty iff every file was read cleanly."""

    config: Config
    reports: tuple[SpecReport, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def errors(self) -> list[str]:
        """Folder problems and spec errors, one line each (warnings are not errors)."""
        return [*self.problems, *(r.error for r in self.reports if r.error)]


def resolve(cfg: Config) -> Resolution:
    """Read every spec ``cfg`` declares (module docstring); ``cfg`` itself is not changed."""
    yesman = cfg.yesman
    files, problems = _session_files(yesman)
    reports: list[SpecReport] = []
    by_file = {f: _read(f, yesman) for f in files}
    claimed: set[SessionFile] = set()
    sessions: list[SessionConfig] = []
    for index, entry in enumerate(cfg.sessions):
        session = entry
        if session.spec is None:
            match = next(
                (f for f, (name, _l, _e) in by_file.items()
                 if session.name in (f.name, name) and f not in claimed),
                None,
            )  # fmt: skip
            if match is None:
                origin = f"{cfg.source or '<config>'} (sessions[{index}])"
                sessions.append(replace(session, origin=session.origin or origin))
                continue
            claimed.add(match)
            session = _from_file(session, match, yesman)
        elif not session.origin:
            templates = (yesman or YesmanConfig()).templates(session.spec.parent)
            session = replace(session, templates=templates, origin=str(session.spec))
        done, report = _load(session)
        sessions.append(done)
        reports.append(report)
    taken = {s.name for s in sessions}
    for file, (name, loaded, error) in by_file.items():
        if file in claimed:
            continue
        if name in taken:
            problems.append(
                f"{file.origin}: declares session {name!r}, which is already declared; "
                "rename one (session_name, or the file)"
            )
            continue
        taken.add(name)
        session = _from_file(SessionConfig(name=name), file, yesman)
        session = replace(session, loaded=loaded, spec_error=error)
        sessions.append(session)
        reports.append(_report(session))
    return Resolution(
        replace(cfg, sessions=tuple(sessions), resolved=True), tuple(reports), tuple(problems)
    )


def _session_files(yesman: YesmanConfig | None) -> tuple[list[SessionFile], list[str]]:
    if yesman is None:
        return [], []
    files: list[SessionFile] = []
    problems: list[str] = []
    folder = yesman.sessions_dir
    if folder is not None and (yesman.sessions_dir_given or folder.is_dir()):
        found, trouble = find_session_files(folder)
        files += found
        problems += [f"[yesman] sessions_dir: {p}" for p in trouble]
    if yesman.projects is not None:
        found, trouble = projects_entries(yesman.projects)
        files += found
        problems += [f"[yesman] projects: {p}" for p in trouble]
    return files, problems


def _templates(file: SessionFile, yesman: YesmanConfig | None) -> tuple[Path, ...]:
    config = yesman or YesmanConfig()
    if file.entry is not None:  # a projects.yaml: its templates/ folder is beside it
        if config.templates_dir is not None:
            return (config.templates_dir,)
        return (file.path.parent / "templates", *config.templates(None))
    return config.templates(config.sessions_dir)


def _from_file(
    session: SessionConfig, file: SessionFile, yesman: YesmanConfig | None
) -> SessionConfig:
    return replace(
        session,
        spec=file.path,
        spec_entry=file.entry,
        templates=_templates(file, yesman),
        origin=file.origin,
    )


def _read(
    file: SessionFile, yesman: YesmanConfig | None
) -> tuple[str, LoadedSpec | None, str | None]:
    """(the session name the file declares, its spec or None, the error or None)."""
    try:
        loaded = load_session_file(
            file.path, name=file.name, templates=_templates(file, yesman), entry=file.entry
        )
    except SpecError as exc:
        return file.name, None, str(exc)
    return loaded.session.name, loaded, None


def _load(session: SessionConfig) -> tuple[SessionConfig, SpecReport]:
    assert session.spec is not None
    try:
        loaded = load_session_file(
            session.spec, name=session.name, templates=session.templates, entry=session.spec_entry
        )
    except SpecError as exc:
        session = replace(session, loaded=None, spec_error=str(exc))
    else:
        session = replace(session, loaded=named(loaded, session.name), spec_error=None)
    return session, _report(session)


def _report(session: SessionConfig) -> SpecReport:
    loaded = session.loaded
    return SpecReport(
        session=session.name,
        origin=session.origin,
        files=loaded.files if loaded is not None else ((session.spec,) if session.spec else ()),
        error=session.spec_error,
        warnings=loaded.warnings if loaded is not None else (),
    )
