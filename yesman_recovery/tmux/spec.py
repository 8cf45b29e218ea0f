"""Load a tmuxp-format session spec (the YAML yesman-claude writes) as an expected session.

The file is read with ``yaml.safe_load`` and normalised by tmuxp's own loader
(``tmuxp.workspace.loader.expand`` then ``trickle``): shorthands, ``shell_command_before``,
``~``/``$VAR`` and relative ``start_directory`` values (relative to the file's folder, as
``tmuxp load`` does for ``./`` paths). Keys used: ``session_name``, ``start_directory``,
``environment``, ``windows`` (``window_name``, ``window_index``, ``layout``, ``focus``,
``start_directory``, ``panes``), and per pane ``shell_command``, ``start_directory``, ``focus``.
Other tmuxp keys (options, hooks, ``before_script``…) are accepted and ignored.

A pane's ``shell_command`` lines are kept as ``shell_commands`` (typed into the pane's shell on a
restore, as tmuxp does); when the last one is a simple command (no shell operators, variables or
builtins) its argv becomes the pane's ``command``, which the program policy may restart.
"""

from __future__ import annotations

import copy
import os
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.client import stored_session_name
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

_SHELL_SYNTAX = set("|&;<>()$`*?[]{}\n")
_BUILTINS = frozenset({"cd", "source", ".", "export", "set", "unset", "alias", "eval", "exec"})


def load_spec(path: str | os.PathLike[str]) -> SessionSnapshot:
    """Read a spec file into the session it declares; ``SpecError`` names the file and key."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{file}: cannot read the spec: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: not valid YAML: {exc}") from exc
    return spec_from_dict(raw, file)


def spec_from_dict(raw: Any, file: Path) -> SessionSnapshot:
    """Turn a parsed spec into a session; ``file`` names it in errors and anchors relative dirs."""
    _validate(raw, file)
    cfg = copy.deepcopy(raw)
    try:
        # Imported here: tmuxp (and libtmux under it) costs ~6 MB and 40 ms, only for specs.
        from tmuxp.workspace import loader

        cfg = loader.trickle(loader.expand(cfg, cwd=file.parent.resolve()))
    except (KeyError, TypeError, AttributeError, AssertionError) as exc:
        raise SpecError(f"{file}: tmuxp cannot expand this spec: {exc!r}") from exc
    windows = []
    for wi, (w_raw, w) in enumerate(zip(raw["windows"], cfg["windows"], strict=True)):
        panes = []
        for pi, p in enumerate(w["panes"]):
            p_raw = w_raw.get("panes", [None])[pi]
            cwd, key = _pane_cwd(raw, w_raw, p_raw, w=w, p=p, wi=wi, pi=pi)
            cwd = _check_dir(cwd, file, key, w.get("start_directory"))
            commands = tuple(str(c["cmd"]) for c in p.get("shell_command", []))
            panes.append(
                PaneSnapshot(
                    index=pi,
                    cwd=cwd,
                    active=bool(p.get("focus")),
                    command=simple_argv(commands[-1]) if commands else None,
                    shell_commands=commands,
                )
            )
        if panes and not any(p.active for p in panes):
            panes[0] = replace(panes[0], active=True)
        name = w.get("window_name")
        windows.append(
            WindowSnapshot(
                index=_opt_int(w.get("window_index"), file, f"windows[{wi}].window_index"),
                name="" if name is None else str(name),
                automatic_rename=name is None,
                layout=None if w.get("layout") is None else str(w["layout"]),
                active=bool(w.get("focus")),
                panes=tuple(panes),
            )
        )
    if not any(w.active for w in windows):
        windows[0] = replace(windows[0], active=True)
    env = cfg.get("environment") or {}
    return SessionSnapshot(
        name=stored_session_name(str(cfg["session_name"])),
        windows=tuple(windows),
        environment=tuple((str(k), str(v)) for k, v in env.items()),
    )


def simple_argv(command: str) -> tuple[str, ...] | None:
    """The argv of a simple shell command line, or None when it uses shell syntax or a builtin."""
    if not command.strip() or _SHELL_SYNTAX & set(command):
        return None
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv or argv[0] in _BUILTINS or "=" in argv[0]:
        return None
    return tuple(argv)


def _validate(raw: Any, file: Path) -> None:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{file}: a spec must be a mapping with `session_name` and `windows`")
    name = raw.get("session_name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{file}: key `session_name` must be a non-empty string, got {name!r}")
    windows = raw.get("windows")
    if not isinstance(windows, list) or not windows:
        raise SpecError(f"{file}: key `windows` must be a non-empty list, got {windows!r}")
    for key in ("start_directory",):
        if key in raw and not isinstance(raw[key], str):
            raise SpecError(f"{file}: key `{key}` must be a string, got {raw[key]!r}")
    if "environment" in raw and not isinstance(raw["environment"], Mapping):
        raise SpecError(f"{file}: key `environment` must be a mapping, got {raw['environment']!r}")
    for wi, w in enumerate(windows):
        if not isinstance(w, Mapping):
            raise SpecError(f"{file}: key `windows[{wi}]` must be a mapping, got {w!r}")
        if "start_directory" in w and not isinstance(w["start_directory"], str):
            raise SpecError(f"{file}: key `windows[{wi}].start_directory` must be a string")
        panes = w.get("panes", [None])
        if not isinstance(panes, list) or not panes:
            raise SpecError(f"{file}: key `windows[{wi}].panes` must be a non-empty list")
        for pi, p in enumerate(panes):
            if not (p is None or isinstance(p, str | list | Mapping)):
                raise SpecError(f"{file}: key `windows[{wi}].panes[{pi}]` is not a pane: {p!r}")
            if isinstance(p, Mapping) and not isinstance(p.get("start_directory", ""), str):
                raise SpecError(
                    f"{file}: key `windows[{wi}].panes[{pi}].start_directory` must be a string"
                )


def _pane_cwd(
    raw: Mapping[str, Any],
    w_raw: Mapping[str, Any],
    p_raw: Any,
    *,
    w: Mapping[str, Any],
    p: Mapping[str, Any],
    wi: int,
    pi: int,
) -> tuple[str | None, str]:
    if isinstance(p_raw, Mapping) and "start_directory" in p_raw:
        return str(p["start_directory"]), f"windows[{wi}].panes[{pi}].start_directory"
    if "start_directory" in w_raw:
        return str(w["start_directory"]), f"windows[{wi}].start_directory"
    if "start_directory" in raw:
        return str(w["start_directory"]), "start_directory"
    return None, ""


def _check_dir(cwd: str | None, file: Path, key: str, parent: str | None) -> str | None:
    """Resolve ``cwd`` (relative to ``parent``, the enclosing start directory, else the file's
    folder) and check it is a directory."""
    if cwd is None:
        return None
    path = Path(os.path.expanduser(cwd))
    if not path.is_absolute():
        anchor = file.parent.resolve()
        base = anchor / os.path.expanduser(parent) if parent and parent != cwd else anchor
        path = (base / path).resolve()
    if not path.is_dir():
        raise SpecError(
            f"{file}: key `{key}` names {cwd!r}, which is not a directory ({path}): "
            f"create it or fix the spec"
        )
    return str(path)


def _opt_int(value: Any, file: Path, key: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SpecError(f"{file}: key `{key}` must be an integer, got {value!r}") from None
