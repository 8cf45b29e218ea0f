"""A fake Claude Code, written from its documented behaviour (no code of Claude Code's).

- ``--session-id <uuid>`` starts a new conversation with that id (refused when it exists);
  ``--resume``/``-r <id>`` resumes one, and exits 1 with "No conversation found" when its
  transcript is gone; ``-c``/``--continue`` resumes the newest of the directory; else a new id.
- The transcript is ``~/.claude/projects/<cwd, non-alphanumerics as '-'>/<id>.jsonl``, lines
  with ``sessionId``, ``cwd``, ``timestamp``; it is written, not held open.
- ``SessionStart`` hooks of ``~/.claude/settings.json`` run (``sh -c COMMAND``) with JSON on
  stdin: ``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name``, ``source``
  (``startup``, ``resume``, ``clear``); a matcher other than ``""`` must match the source.
- Each line typed is a message appended to the transcript; ``/clear`` starts a new conversation
  (new id, hooks with ``source: clear``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path


def project(cwd: str) -> Path:
    return Path.home() / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd)


def append(path: Path, conversation: str, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"sessionId": conversation, "cwd": os.getcwd(), "timestamp": time.time(), "text": text}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def run_hooks(conversation: str, path: Path, source: str) -> None:
    try:
        settings = json.loads((Path.home() / ".claude" / "settings.json").read_text())
    except (OSError, ValueError):
        return
    payload = json.dumps({
        "session_id": conversation, "transcript_path": str(path), "cwd": os.getcwd(),
        "hook_event_name": "SessionStart", "source": source,
    })  # fmt: skip
    for entry in settings.get("hooks", {}).get("SessionStart", []):
        matcher = entry.get("matcher") or ""
        if matcher and not re.fullmatch(matcher, source):
            continue
        for hook in entry.get("hooks", []):
            if hook.get("type") == "command":
                subprocess.run(["sh", "-c", hook["command"]], input=payload, text=True,
                               stdout=subprocess.DEVNULL, check=False, timeout=30)  # fmt: skip


def main(args: list[str]) -> int:
    folder = project(os.getcwd())
    conversation, source = None, "startup"
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--session-id":
            conversation = args[i + 1]
            i += 1
            if (folder / f"{conversation}.jsonl").exists():
                print(f"Error: Session ID {conversation} is already in use.", file=sys.stderr)
                return 1
        elif arg in ("--resume", "-r") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            conversation, source = args[i + 1], "resume"
            i += 1
            if not (folder / f"{conversation}.jsonl").exists():
                print(f"No conversation found with session ID: {conversation}", file=sys.stderr)
                return 1
        elif arg in ("-c", "--continue"):
            files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
            if files:
                conversation, source = files[-1].stem, "resume"
        i += 1
    conversation = conversation or str(uuid.uuid4())
    path = folder / f"{conversation}.jsonl"
    append(path, conversation, f"[{source}]")
    run_hooks(conversation, path, source)
    print(f"fake claude on {conversation}", flush=True)
    for line in sys.stdin:
        text = line.strip()
        if text == "/clear":
            conversation = str(uuid.uuid4())
            path = folder / f"{conversation}.jsonl"
            append(path, conversation, "[clear]")
            run_hooks(conversation, path, "clear")
            print(f"fake claude on {conversation}", flush=True)
        elif text:
            append(path, conversation, text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
