"""The README's embedding example runs as printed and shows the restarted worker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_embedding_example_runs() -> None:
    text = README.read_text()
    section = text[text.index("## Embedding the supervision tree") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    # What the comment under the print says it shows.
    shown = re.search(r"print\(.*\)\n\s*# (.*)\n", code.group(1))
    assert shown is not None
    assert printed == shown.group(1)


def test_the_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    commands = [line for line in README.read_text().splitlines() if line.startswith("scripts/")]
    assert len(commands) == 2
    assert commands[1].startswith("scripts/install.sh --test")
    assert "--cov-fail-under=90" in commands[1]
    assert "grep -m1 '^scripts/install.sh --test' README.md" in ci
