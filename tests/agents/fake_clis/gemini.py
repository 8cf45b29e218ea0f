"""A fake Gemini CLI, written from its documented behaviour (no code of Gemini CLI's).

- ``--resume``/``-r <uuid>`` resumes that conversation (exits 1 when it is gone); ``-r`` alone
  or ``-r latest`` the newest; else a new one.
- Conversations are ``~/.gemini/tmp/<sha256 of the project dir>/chats/session-<time>-<first 8 of
  the id>.json`` (``sessionId``, ``projectHash``, ``startTime``, ``lastUpdated``, ``messages``),
  written from the first message on; not held open.
- ``SessionStart`` hooks of ``~/.gemini/settings.json`` (``hooks.SessionStart``: definitions with
  ``matcher`` and ``hooks`` of ``type: command``) run with JSON on stdin: ``session_id``,
  ``transcript_path``, ``cwd``, ``hook_event_name``, ``timestamp``, ``trigger`` (``startup``,
  ``resume``); their stdout must be JSON or nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")  # noqa: UP017


def run_hooks(conversation: str, path: Path, trigger: str) -> None:
    try:
        settings = json.loads((Path.home() / ".gemini" / "settings.json").read_text())
    except (OSError, ValueError):
        return
    payload = json.dumps({
        "session_id": conversation, "transcript_path": str(path), "cwd": os.getcwd(),
        "hook_event_name": "SessionStart", "timestamp": now(), "trigger": trigger,
    })  # fmt: skip
    for entry in settings.get("hooks", {}).get("SessionStart", []):
        matcher = entry.get("matcher") or ""
        if matcher and matcher != trigger:
            continue
        for hook in entry.get("hooks", []):
            if hook.get("type") == "command":
                out = subprocess.run(["sh", "-c", hook["command"]], input=payload, text=True,
                                     capture_output=True, check=False, timeout=30)  # fmt: skip
                if out.stdout.strip():
                    json.loads(out.stdout)  # not JSON: the real CLI warns; the fake fails


def main(args: list[str]) -> int:
    digest = hashlib.sha256(os.getcwd().encode()).hexdigest()
    chats = Path.home() / ".gemini" / "tmp" / digest / "chats"
    path, data = None, None
    if "--resume" in args or "-r" in args:
        i = args.index("--resume") if "--resume" in args else args.index("-r")
        wanted = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else "latest"
        files = sorted(chats.glob("session-*.json"), key=lambda p: p.stat().st_mtime)
        for candidate in files:
            loaded = json.loads(candidate.read_text())
            if wanted == "latest" or loaded.get("sessionId") == wanted:
                path, data = candidate, loaded
        if path is None:
            print(f"Error resuming session: {wanted} not found", file=sys.stderr)
            return 1
    if data is None:
        conversation = str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%dT%H-%M")
        path = chats / f"session-{stamp}-{conversation[:8]}.json"
        data = {"sessionId": conversation, "projectHash": digest, "startTime": now(),
                "lastUpdated": now(), "messages": []}  # fmt: skip
    assert path is not None
    run_hooks(data["sessionId"], path, "resume" if data["messages"] else "startup")
    print(f"fake gemini on {data['sessionId']}", flush=True)
    for line in sys.stdin:
        data["messages"].append({"type": "user", "content": line.strip()})
        data["lastUpdated"] = now()
        chats.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
