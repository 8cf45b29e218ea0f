"""Load a tmuxp-format session spec (the YAML yesman-claude writes) as an expected session.

The file is read with ``yaml.safe_load`` and normalised by tmuxp's own loader
(``tmuxp.workspace.loader.expand`` then ``trickle``): shorthands, ``shell_command_before``,
``~``/``$VAR`` and relative ``start_directory`` values (relative to the file's folder, as
``tmuxp load`` does for ``./`` paths). Keys used: ``session_name``, ``start_directory``,
``environment``, ``windows`` (``window_name``, ``window_index``, ``layout``, ``focus``,
``start_directory``, ``panes``), and per pane ``shell_command``, ``start_directory``, ``focus``,
``title`` (set with ``select-pane -T``). Other tmuxp keys (options, hooks, ``shell``…) are
accepted and ignored; ``before_script`` is taken out by :mod:`yesman_recovery.tmux.yesman`,
which reads every spec file the daemon uses (tmuxp's and yesman-claude's) before this module.
Blank panes are written as tmuxp allows: ``null``, ``pane``, ``blank``, ``shell_command:
[null]``. Without ``focus`` the last pane of a window is its active one and windows are listed
in the order tmux gives them (by index), as ``tmuxp load`` leaves them.

Every failure — unreadable or non-UTF-8 file, bad YAML, a value of the wrong type, a number
that is not an integer, nesting too deep, an error inside tmuxp — is a :class:`SpecError` naming
the file and, where it is known, the key; nothing else escapes. A window ``layout`` that is not
a preset name or a layout string that checks (:mod:`yesman_recovery.tmux.layout`) is dropped
with a warning (the window is built with tmux's default split): :func:`check_spec` returns those
warnings, :func:`load_spec` logs them. Limits: :data:`MAX_SPEC_BYTES` of file,
:data:`MAX_SPEC_NODES` values (YAML aliases counted each time they are used), window indexes
from 0 to :data:`MAX_WINDOW_INDEX`.

A pane's ``shell_command`` lines are kept as ``shell_commands`` (typed into the pane's shell on a
restore, as tmuxp does); when the last one is a simple command (no shell operators, variables or
builtins) its argv becomes the pane's ``command``, which the program policy may restart.
"""

from __future__ import annotations

import copy
import logging
import os
import shlex
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.client import stored_session_name
from yesman_recovery.tmux.layout import layout_problem
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

logger = logging.getLogger(__name__)

MAX_SPEC_BYTES = 1024 * 1024
"""Largest spec file read (a spec of 100 windows is about 20 KB)."""
MAX_SPEC_NODES = 100_000
"""Most values (mappings, lists, scalars) a spec may hold, aliases counted at each use."""
MAX_WINDOW_INDEX = 99_999

_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (about 10x faster on a folder of specs)."""
_SHELL_SYNTAX = set("|&;<>()$`*?[]{}\n")
_BUILTINS = frozenset({"cd", "source", ".", "export", "set", "unset", "alias", "eval", "exec"})


def bare_session(name: str) -> SessionSnapshot:
    """What a declared session without a spec is built as the first time: one window with one
    pane, a login shell in the home directory (as ``tmux new-session`` makes one)."""
    home = os.path.expanduser("~")
    pane = PaneSnapshot(index=0, cwd=home, active=True)
    window = WindowSnapshot(index=None, name="", panes=(pane,), active=True, automatic_rename=True)
    return SessionSnapshot(name=name, windows=(window,))


def load_spec(path: str | os.PathLike[str]) -> SessionSnapshot:
    """Read a spec file into the session it declares; ``SpecError`` names the file and key.

    Refused layouts are logged as warnings and left out (see :func:`check_spec`).
    """
    session, warnings = check_spec(path)
    for warning in warnings:
        logger.warning("%s", warning)
    return session


def check_spec(path: str | os.PathLike[str]) -> tuple[SessionSnapshot, list[str]]:
    """Read a spec file: the session it declares and warnings about what was left out.

    Raises :class:`SpecError` (and nothing else) naming the file and key.
    """
    file = Path(path)
    raw = read_yaml(file)
    warnings: list[str] = []
    session = spec_from_dict(raw, file, warnings)
    return session, warnings


def read_yaml(file: Path) -> Any:
    """The parsed YAML of ``file`` (at most :data:`MAX_SPEC_BYTES`, UTF-8).

    Raises :class:`SpecError` naming the file; a YAML error is one line with its line and
    column (``FILE: line 3, column 5: mapping values are not allowed here``).
    """
    try:
        with file.open("rb") as fp:
            data = fp.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"{file}: cannot read the spec: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{file}: the spec is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{file}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(f"{file}: {yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: not valid YAML: {exc}") from None
    except RecursionError:
        raise SpecError(f"{file}: the YAML is nested too deeply") from None
    except Exception as exc:  # the YAML library's own failures on odd input
        raise SpecError(f"{file}: cannot parse the YAML: {type(exc).__name__}: {exc}") from None


def yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """One line: where the YAML is wrong and what is wrong there (no parser noise)."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = exc.problem or "not valid YAML"
    if "maximum nesting depth" in problem:  # libyaml's own limit
        return f"{where}the YAML is nested too deeply"
    context = f" ({exc.context})" if exc.context else ""
    return f"{where}not valid YAML: {problem}{context}"


def spec_from_dict(
    raw: Any, file: Path, warnings: list[str] | None = None, *, base: Path | None = None
) -> SessionSnapshot:
    """Turn a parsed spec into a session; ``file`` names it in errors and anchors relative dirs
    (``base`` instead, when given: yesman-claude expands its files from the templates folder).

    Refused layouts are appended to ``warnings`` (logged when it is None).
    """
    found: list[str] = []
    try:
        session = _spec_from_dict(raw, file, found, (base or file.parent).resolve())
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(f"{file}: the spec is nested too deeply") from None
    except Exception as exc:  # whatever tmuxp or odd values raise: this spec's error only
        raise SpecError(f"{file}: cannot use this spec: {type(exc).__name__}: {exc}") from None
    if warnings is None:
        for warning in found:
            logger.warning("%s", warning)
    else:
        warnings.extend(found)
    return session


def _spec_from_dict(raw: Any, file: Path, warnings: list[str], anchor: Path) -> SessionSnapshot:
    _check_size(raw, file)
    _validate(raw, file)
    cfg = copy.deepcopy(raw)
    try:
        # Imported here: tmuxp (and libtmux under it) costs ~6 MB and 40 ms, only for specs.
        from tmuxp.workspace import loader

        cfg = loader.trickle(loader.expand(cfg, cwd=anchor))
    except RecursionError:
        raise
    except Exception as exc:
        raise SpecError(f"{file}: tmuxp cannot expand this spec: {exc!r}") from None
    windows = []
    for wi, (w_raw, w) in enumerate(zip(raw["windows"], cfg["windows"], strict=True)):
        panes = []
        for pi, p in enumerate(w["panes"]):
            try:
                p_raw = w_raw.get("panes", [None])[pi]
                cwd, key = _pane_cwd(raw, w_raw, p_raw, w=w, p=p, wi=wi, pi=pi)
                cwd = _check_dir(cwd, file, key, w.get("start_directory"), anchor)
                commands = tuple(
                    str(c["cmd"])
                    for c in p.get("shell_command") or []
                    if isinstance(c, Mapping) and c.get("cmd") is not None
                )
                title = p.get("title")
            except (SpecError, RecursionError):
                raise
            except Exception as exc:
                raise SpecError(
                    f"{file}: key `windows[{wi}].panes[{pi}]` is not a usable pane: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            panes.append(
                PaneSnapshot(
                    index=pi,
                    cwd=cwd,
                    active=bool(p.get("focus")),
                    command=simple_argv(commands[-1]) if commands else None,
                    shell_commands=commands,
                    title="" if title is None else str(title),
                )
            )
        if panes and not any(p.active for p in panes):  # as tmuxp leaves it: the last split
            panes[-1] = replace(panes[-1], active=True)
        name = w.get("window_name")
        windows.append(
            WindowSnapshot(
                index=_opt_int(w.get("window_index"), file, f"windows[{wi}].window_index"),
                name="" if name is None else str(name),
                automatic_rename=name is None,
                layout=_layout(
                    w.get("layout"), len(panes), file, f"windows[{wi}].layout", warnings
                ),
                active=bool(w.get("focus")),
                panes=tuple(panes),
            )
        )
    if not any(w.active for w in windows):
        windows[0] = replace(windows[0], active=True)
    windows = _in_tmux_order(windows)
    env = cfg.get("environment") or {}
    return SessionSnapshot(
        name=stored_session_name(str(cfg["session_name"])),
        windows=tuple(windows),
        environment=tuple((str(k), str(v)) for k, v in env.items()),
    )


def _in_tmux_order(windows: list[WindowSnapshot]) -> list[WindowSnapshot]:
    """The windows in the order tmux lists them once built: a window without ``window_index``
    takes the lowest free index when it is created (``new-window -t =S:``), so one written
    after ``window_index: 5`` may come before it."""
    if all(w.index is None for w in windows):
        return windows
    taken = {w.index for w in windows if w.index is not None}
    placed: list[tuple[int, int, WindowSnapshot]] = []
    for position, window in enumerate(windows):
        index = window.index
        if index is None:
            index = next(i for i in range(len(windows) + len(taken) + 1) if i not in taken)
            taken.add(index)
        placed.append((index, position, window))
    return [w for _i, _p, w in sorted(placed, key=lambda t: t[:2])]


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
    _check_commands(raw.get("shell_command_before"), file, "shell_command_before")
    for wi, w in enumerate(windows):
        if not isinstance(w, Mapping):
            raise SpecError(f"{file}: key `windows[{wi}]` must be a mapping, got {w!r}")
        if "start_directory" in w and not isinstance(w["start_directory"], str):
            raise SpecError(f"{file}: key `windows[{wi}].start_directory` must be a string")
        _check_commands(w.get("shell_command_before"), file, f"windows[{wi}].shell_command_before")
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
            if isinstance(p, Mapping):
                key = f"windows[{wi}].panes[{pi}].shell_command"
                _check_commands(p.get("shell_command"), file, key)
            elif isinstance(p, list):
                _check_commands(p, file, f"windows[{wi}].panes[{pi}]")


def _check_commands(value: Any, file: Path, key: str) -> None:
    """A ``shell_command`` (or ``..._before``) value: a string, or a list of strings, of
    ``{cmd: string}`` mappings or of nulls (tmuxp's forms; a null is a blank pane)."""
    if value is None or isinstance(value, str):
        return
    ok = isinstance(value, list) and all(
        c is None
        or isinstance(c, str)
        or (isinstance(c, Mapping) and isinstance(c.get("cmd", ""), str | None))
        for c in value
    )
    if not ok:
        raise SpecError(
            f"{file}: key `{key}` must be a command string or a list of them, got {value!r}"[:400]
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


def _check_dir(
    cwd: str | None, file: Path, key: str, parent: str | None, anchor: Path
) -> str | None:
    """Resolve ``cwd`` (relative to ``parent``, the enclosing start directory, else the file's
    folder) and check it is a directory."""
    if cwd is None:
        return None
    path = Path(os.path.expanduser(cwd))
    if not path.is_absolute():
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
    problem = f"{file}: key `{key}` must be an integer from 0 to {MAX_WINDOW_INDEX}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise SpecError(problem)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(problem) from None
    exact = number == value or str(number) == str(value).strip()
    if not exact or not 0 <= number <= MAX_WINDOW_INDEX:
        raise SpecError(problem)
    return number


def _layout(value: Any, panes: int, file: Path, key: str, warnings: list[str]) -> str | None:
    """The window's layout if tmux may be given it; otherwise None and a warning."""
    if value is None:
        return None
    if not isinstance(value, str):
        warnings.append(f"{file}: key `{key}` must be a string, got {value!r}; layout not used")
        return None
    problem = layout_problem(value, panes)
    if problem is not None:
        warnings.append(f"{file}: key `{key}` = {value[:80]!r}: {problem}; layout not used")
        return None
    return value


def _check_size(raw: Any, file: Path) -> None:
    """Refuse a spec of more than MAX_SPEC_NODES values (an alias bomb is small on disk)."""
    stack = [raw]
    seen = 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_SPEC_NODES:
            raise SpecError(
                f"{file}: the spec holds more than {MAX_SPEC_NODES} values (YAML aliases "
                "count at each use); a session spec is far smaller"
            )
        if isinstance(value, Mapping):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
