"""A fake Codex CLI, written from its documented behaviour (no code of Codex's).

- ``codex resume <id>`` resumes the rollout of that id (exits 1 when there is none);
  ``codex resume --last`` the newest one; ``codex`` starts a new conversation.
- A rollout is ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<YYYY-MM-DDThh-mm-ss>-<uuid>.jsonl``
  (``$CODEX_HOME`` defaults to ``~/.codex``), its first line ``{"type": "session_meta",
  "payload": {"id": …, "cwd": …}}``; the process keeps it open while it runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path


def main(args: list[str]) -> int:
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    sessions = home / "sessions"
    path = None
    if args[:1] == ["resume"]:
        rest = args[1:]
        if "--last" in rest:
            found = sorted(sessions.glob("*/*/*/rollout-*.jsonl"), key=lambda p: p.stat().st_mtime)
            path = found[-1] if found else None
        else:
            ids = [a for a in rest if not a.startswith("-")]
            found = list(sessions.glob(f"*/*/*/rollout-*-{ids[0]}.jsonl")) if ids else []
            if not found:
                print(f"No saved session found with ID {ids[:1]}", file=sys.stderr)
                return 1
            path = found[0]
    if path is None:
        conversation = str(uuid.uuid4())
        now = time.localtime()
        day = sessions / time.strftime("%Y/%m/%d", now)
        day.mkdir(parents=True, exist_ok=True)
        path = day / f"rollout-{time.strftime('%Y-%m-%dT%H-%M-%S', now)}-{conversation}.jsonl"
        meta = {"type": "session_meta", "payload": {"id": conversation, "cwd": os.getcwd()}}
        path.write_text(json.dumps(meta) + "\n")
    with open(path, "a", encoding="utf-8") as rollout:  # held open while the process runs
        print(f"fake codex on {path.name}", flush=True)
        for line in sys.stdin:
            rollout.write(json.dumps({"type": "event_msg", "text": line.strip()}) + "\n")
            rollout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
