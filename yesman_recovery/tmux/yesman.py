"""yesman-claude's session files, resolved as ``yesman setup`` resolves them, as expected sessions.

A file (or one entry of a legacy ``projects.yaml`` ``sessions:`` map) is either an inline tmuxp
session or ``template_name: X`` + ``override: {…}``:

- the template is ``X.yaml`` in the first of the templates folders given that has it
  (``[yesman] templates_dir``, the ``templates/`` beside the sessions folder,
  ``~/.scripton/yesman/templates``); a mapping in tmuxp format;
- as ``yesman setup`` does, the template is copied, ``session_name`` set from the override (else
  the file's name), ``start_directory`` from the override (``yesman setup`` uses the directory
  it was run in; the daemon has none and uses the home directory), then every other top-level
  key of the override replaces the template's whole (no deep merge);
- ``{{ session_name }}`` and ``{{ start_directory }}`` in top-level string values are filled;
  any other ``{{ … }}`` left anywhere (yesman renders nothing deeper) is an error naming its key;
- relative directories of a template-based file resolve from the templates folder (yesman
  expands with ``cwd=templates``); those of an inline file from the file's own folder.

Beyond tmuxp: a pane ``{command: "…", name: "…"}`` runs its command (typed into the pane's
shell, as a ``shell_command``) and gets its name as pane title — yesman hands such panes to
tmuxp, which ignores both keys, so under ``yesman setup`` they come up empty; ``before_script``
(a string, or a list run in order) is returned to be run once when the session is created.

Every failure is a :class:`~yesman_recovery.errors.SpecError` naming the file and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from yesman_recovery.errors import SpecError
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.spec import read_yaml, spec_from_dict

YESMAN_HOME = Path("~/.scripton/yesman")
DEFAULT_SESSIONS_DIR = YESMAN_HOME / "sessions"
DEFAULT_TEMPLATES_DIR = YESMAN_HOME / "templates"
MAX_SCRIPT_LINES = 100

_FILLED = re.compile(r"\{\{\s*(session_name|start_directory)\s*\}\}")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class LoadedSpec:
    """A session file read and resolved: the session, what to run first, and what was read.

    ``files`` are the session file and its template (if any); ``warnings`` keys left out.
    """

    session: SessionSnapshot
    before_script: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    start_directory: str | None = None
    """The session's ``start_directory`` resolved (where ``before_script`` runs), if a folder."""


def load_session_file(
    path: Path,
    *,
    name: str,
    templates: Sequence[Path] = (),
    entry: str | None = None,
) -> LoadedSpec:
    """Read and resolve one session file (or the ``sessions.<entry>`` of a ``projects.yaml``).

    ``name`` is the session's name when neither the override nor the file gives one;
    ``templates`` are the folders searched for ``template_name``, in order.
    """
    raw = read_yaml(path)
    where = f"{path}"
    prefix = ""
    if entry is not None:
        sessions = raw.get("sessions") if isinstance(raw, Mapping) else None
        if not isinstance(sessions, Mapping) or entry not in sessions:
            raise SpecError(f"{path}: key `sessions.{entry}` is gone from the file")
        raw, prefix = sessions[entry], f"sessions.{entry}."
    if raw is None:
        raise SpecError(f"{where}: the file is empty; write a tmuxp session or template_name")
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"{where}: {_key(prefix, '')}must be a mapping (a tmuxp session, or template_name "
            f"+ override), got {type(raw).__name__}"
        )
    files = [path]
    base: Path | None = None
    if "template_name" in raw:
        cfg, template = _from_template(raw, path, prefix, name, templates)
        files.append(template)
        base = template.parent
    else:
        cfg = dict(raw)
        cfg.setdefault("session_name", name)
    _fill(cfg, path, prefix, name)
    scripts = _before_script(cfg.pop("before_script", None), path, prefix)
    _yesman_panes(cfg, path, prefix)
    warnings: list[str] = []
    session = spec_from_dict(cfg, path, warnings, base=base)
    if prefix:
        warnings = [w.replace("key `", f"key `{prefix}") for w in warnings]
    start = _start_directory(cfg.get("start_directory"), base or path.parent)
    return LoadedSpec(session, scripts, tuple(files), tuple(warnings), start)


def _start_directory(value: Any, anchor: Path) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    folder = (anchor / os.path.expanduser(value)).resolve()
    return str(folder) if folder.is_dir() else None


def _key(prefix: str, key: str) -> str:
    return f"key `{prefix}{key}`: " if prefix or key else ""


def _from_template(
    raw: Mapping[str, Any], path: Path, prefix: str, name: str, templates: Sequence[Path]
) -> tuple[dict[str, Any], Path]:
    template_name = raw["template_name"]
    key = f"{prefix}template_name"
    if not isinstance(template_name, str) or not _TEMPLATE_NAME.match(template_name):
        raise SpecError(
            f"{path}: key `{key}` must be the name of a template (letters, digits, - _ . +; "
            f"no folder), got {template_name!r}"
        )
    override = raw.get("override")
    if override is None:
        override = {}
    if not isinstance(override, Mapping):
        raise SpecError(
            f"{path}: key `{prefix}override` must be a mapping of top-level tmuxp keys "
            f"(session_name, start_directory, windows, …), got {type(override).__name__}"
        )
    searched = [Path(t).expanduser() / f"{template_name}.yaml" for t in templates]
    found = next((t for t in searched if t.is_file()), None)
    if found is None:
        where = ", ".join(str(t.parent) for t in searched) or "no templates folder"
        raise SpecError(
            f"{path}: key `{key}` = {template_name!r}: no such template ({template_name}.yaml "
            f"in {where}); create it or set [yesman] templates_dir"
        )
    template = read_yaml(found)
    if template is None:
        template = {}
    if not isinstance(template, Mapping):
        raise SpecError(f"{found}: a template must be a mapping in tmuxp format")
    cfg = dict(template)
    cfg["session_name"] = override.get("session_name", name)
    cfg["start_directory"] = override.get("start_directory", "~")
    for k, value in override.items():
        cfg[k] = value
    return cfg, found


def _fill(cfg: dict[str, Any], path: Path, prefix: str, name: str) -> None:
    """Fill the two top-level placeholders; any placeholder left is an error naming its key.

    A ``session_name`` that is itself ``{{ session_name }}`` becomes the file's name, a
    ``start_directory`` of ``{{ start_directory }}`` the home directory.
    """

    def sub(value: Any, session: str, start: str) -> Any:
        if not isinstance(value, str):
            return value
        filled = {"session_name": session, "start_directory": start}
        return _FILLED.sub(lambda m: filled[m.group(1)], value)

    raw_name, raw_dir = cfg.get("session_name"), cfg.get("start_directory")
    plain_name = raw_name if isinstance(raw_name, str) and not _FILLED.search(raw_name) else name
    start = sub(raw_dir, plain_name, "~")
    session = sub(raw_name, name, start if isinstance(start, str) else "~")
    start = sub(raw_dir, session if isinstance(session, str) else name, "~")
    for key, value in list(cfg.items()):
        cfg[key] = sub(value, session, start)
    cfg["session_name"], cfg["start_directory"] = session, start
    if raw_dir is None:
        del cfg["start_directory"]
    left = _find_placeholder(cfg, "")
    if left is not None:
        key, text = left
        raise SpecError(
            f"{path}: key `{prefix}{key}` holds the placeholder {text}, which is never filled: "
            "yesman setup fills only {{ session_name }} and {{ start_directory }}, at the top "
            "level; write the value instead"
        )


def _find_placeholder(value: Any, key: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        found = _PLACEHOLDER.search(value)
        return (key or "(top level)", found.group(0)) if found else None
    if isinstance(value, Mapping):
        items: Any = ((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{key}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for sub, item in items:
        hit = _find_placeholder(item, sub)
        if hit is not None:
            return hit
    return None


def _before_script(value: Any, path: Path, prefix: str) -> tuple[str, ...]:
    if value is None:
        return ()
    scripts = [value] if isinstance(value, str) else value
    if not isinstance(scripts, list) or not all(isinstance(s, str) for s in scripts):
        raise SpecError(
            f"{path}: key `{prefix}before_script` must be a shell script (a string) or a list "
            f"of commands, got {value!r}"[:400]
        )
    if len(scripts) > MAX_SCRIPT_LINES:
        raise SpecError(
            f"{path}: key `{prefix}before_script` has {len(scripts)} commands; at most "
            f"{MAX_SCRIPT_LINES}"
        )
    return tuple(s for s in scripts if s.strip())


def _yesman_panes(cfg: dict[str, Any], path: Path, prefix: str) -> None:
    """``{command:, name:}`` panes as tmuxp's ``shell_command`` and ``title`` (in place)."""
    windows = cfg.get("windows")
    if not isinstance(windows, list):
        return  # the tmuxp checks name it
    out = []
    for wi, window in enumerate(windows):
        if not isinstance(window, Mapping) or not isinstance(window.get("panes"), list):
            out.append(window)
            continue
        panes = [
            _yesman_pane(pane, path, f"{prefix}windows[{wi}].panes[{pi}]")
            for pi, pane in enumerate(window["panes"])
        ]
        out.append({**window, "panes": panes})
    cfg["windows"] = out


def _yesman_pane(pane: Any, path: Path, key: str) -> Any:
    if not (isinstance(pane, Mapping) and ("command" in pane or "name" in pane)):
        return pane
    out = dict(pane)
    command, title = out.pop("command", None), out.pop("name", None)
    for what, text in (("command", command), ("name", title)):
        if text is not None and not isinstance(text, str):
            raise SpecError(f"{path}: key `{key}.{what}` must be a string, got {text!r}"[:400])
    if command is not None and "shell_command" not in out:
        out["shell_command"] = [command]
    if title is not None and "title" not in out:
        out["title"] = title
    return out


def named(spec: LoadedSpec, name: str) -> LoadedSpec:
    """The same spec for the session declared as ``name``."""
    return replace(spec, session=replace(spec.session, name=name))
