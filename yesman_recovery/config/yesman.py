"""``[yesman]``: a yesman-claude user's sessions, declared in one table.

::

    [yesman]
    sessions_dir = "~/.scripton/yesman/sessions"   # the default
    templates_dir = "~/.scripton/yesman/templates" # default: templates/ beside sessions_dir
    projects = "~/.yesman/projects.yaml"           # a legacy file (before July 2025); optional
    before_script_timeout = "120s"

Only a present table declares anything: without ``[yesman]`` the daemon reads no yesman file.
A ``sessions_dir`` written in the file must be a folder; the default one may be missing (then
it declares nothing). Which files become sessions: :mod:`yesman_recovery.tmux.yesman_folder`;
how one is read: :mod:`yesman_recovery.tmux.yesman`; both resolved by
:mod:`yesman_recovery.config.declared`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationInfo

from yesman_recovery.config import validators as v
from yesman_recovery.tmux.yesman import DEFAULT_SESSIONS_DIR, DEFAULT_TEMPLATES_DIR

DEFAULT_BEFORE_SCRIPT_TIMEOUT = 120.0


@dataclass(frozen=True)
class YesmanConfig:
    """``[yesman]``: where the session files and templates are; ``projects``: a legacy file.

    ``sessions_dir`` None: no folder (``sessions_dir = ""``). ``templates_dir`` None: the
    ``templates/`` beside the sessions folder, then ``~/.scripton/yesman/templates``.
    """

    sessions_dir: Path | None = field(default_factory=DEFAULT_SESSIONS_DIR.expanduser)
    sessions_dir_given: bool = False
    templates_dir: Path | None = None
    projects: Path | None = None
    before_script_timeout: float = DEFAULT_BEFORE_SCRIPT_TIMEOUT

    def templates(self, sessions_folder: Path | None) -> tuple[Path, ...]:
        """The folders a ``template_name`` is looked for in, in order."""
        if self.templates_dir is not None:
            return (self.templates_dir,)
        beside = () if sessions_folder is None else (sessions_folder.parent / "templates",)
        return (*beside, DEFAULT_TEMPLATES_DIR.expanduser())


def _folder(value: object, info: ValidationInfo) -> Path | None:
    if value == "":
        return None
    resolved = v.path(value, info)
    if not resolved.is_dir():
        raise ValueError(f"no such folder: {resolved}; give the folder of yesman session files")
    return resolved


def _file(value: object, info: ValidationInfo) -> Path:
    resolved = v.path(value, info)
    if not resolved.is_file():
        raise ValueError(f"no such file: {resolved}; give yesman's projects.yaml")
    return resolved


class YesmanTable(BaseModel):
    """The schema of ``[yesman]``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sessions_dir: Annotated[Path | None, v.checked_with_info(_folder)] = None
    templates_dir: Annotated[Path | None, v.checked_with_info(_folder)] = None
    projects: Annotated[Path, v.checked_with_info(_file)] = Path()
    before_script_timeout: Annotated[float, v.checked(v.positive_duration)] = (
        DEFAULT_BEFORE_SCRIPT_TIMEOUT
    )

    def build(self) -> YesmanConfig:
        given: dict[str, Any] = {n: getattr(self, n) for n in self.model_fields_set}
        if "sessions_dir" in given:
            given["sessions_dir_given"] = True
        return YesmanConfig(**given)


TABLES: dict[tuple[str, ...], type[BaseModel]] = {("yesman",): YesmanTable}
