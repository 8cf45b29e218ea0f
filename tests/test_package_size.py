"""scripts/package_size.py counts code lines only: no blanks, comments or docstrings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SOURCE = '''"""Module docstring,
over two lines."""

# a comment
x = 1  # code with a comment


def f() -> tuple[int, int]:
    """Function docstring."""
    return (1,
            2)
'''


def test_only_code_lines_are_counted(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(SOURCE)
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package_size.py"), str(tmp_path / "pkg")],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert out.strip() == f"{tmp_path / 'pkg'}: 4 lines of code in 1 file"
