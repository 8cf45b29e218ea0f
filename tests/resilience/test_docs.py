"""The resilience guide's snippets run as written, against its own configuration file."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import configure

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "resilience.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)


def test_the_guide_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agent.toml").write_text(blocks("toml")[0])
    from_file, with_asyncio, in_code = blocks("python")
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for name, source in (("file", from_file), ("async", with_asyncio), ("code", in_code)):
                exec(compile(source, f"resilience.md#{name}", "exec"), {"__name__": "guide"})
    finally:
        configure(None, metrics=RecoveryMetrics())  # leave the process-wide registry empty
    assert out.getvalue().splitlines() == [
        "answer to 'hello' after 3 attempts",
        "['A', 'B', 'C']",
    ]
