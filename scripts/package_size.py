"""Count the package's lines of code: not blank, not a comment, not a docstring.

Usage: ``.venv/bin/python scripts/package_size.py [--rev REV] [PATH]`` (PATH defaults to
``yesman_recovery``). With ``--rev`` the files are read from that git revision, so a before and
after can be counted from one checkout: ``--rev main`` then without it.

A line counts when a token other than a comment starts or continues on it, outside a docstring
(a string that is a statement of its own: module, class and function docstrings and the like).
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def docstring_lines(tree: ast.AST) -> set[int]:
    """Every line of a string literal that stands alone as a statement."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno, end + 1))
    return lines


def code_lines(source: str) -> int:
    """How many lines of ``source`` hold code."""
    skip = docstring_lines(ast.parse(source))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in NOT_CODE:
            continue
        lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in skip)
    return len(lines)


def sources(path: str, rev: str | None) -> Iterator[tuple[str, str]]:
    """(file name, text) of every ``.py`` file under ``path``, now or at ``rev``."""
    if rev is None:
        for file in sorted(Path(path).rglob("*.py")):
            yield file.as_posix(), file.read_text(encoding="utf-8")
        return
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", path],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in sorted(n for n in names if n.endswith(".py")):
        text = subprocess.run(
            ["git", "show", f"{rev}:{name}"], capture_output=True, text=True, check=True
        ).stdout
        yield name, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", nargs="?", default="yesman_recovery")
    parser.add_argument("--rev", help="count the files of this git revision instead")
    args = parser.parse_args(argv)
    files = list(sources(args.path, args.rev))
    if not files:
        print(f"no Python files under {args.path!r}", file=sys.stderr)
        return 1
    total = sum(code_lines(text) for _, text in files)
    where = f" at {args.rev}" if args.rev else ""
    noun = "file" if len(files) == 1 else "files"
    print(f"{args.path}{where}: {total} lines of code in {len(files)} {noun}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
