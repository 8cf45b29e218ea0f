"""A real ``yesman-recovery run`` subprocess on an isolated tmux server, and CLI calls to it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

DEADLINE = 30.0  # generous: catches a hang, not a slow machine


def cli(config: Path, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """Run ``yesman-recovery ARGS --config CONFIG`` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", *args, "--config", str(config)],
        capture_output=True, text=True, env=environment(config.parent), timeout=timeout,
        check=False,
    )  # fmt: skip


def _drain(stream: IO[str], sink: Callable[[str], None]) -> None:
    """Hand every line of ``stream`` to ``sink`` until it closes (a reader thread's loop)."""
    for line in stream:
        sink(line)


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YESMAN_", "NOTIFY_", "WATCH"))}
    env["XDG_STATE_HOME"] = str(home / "xdg")
    return env


def write_config(path: Path, socket: str, extra: str = "") -> Path:
    """A config watching ``socket`` (adopting every session), state in ``state/``."""
    path.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "state"\n'
        f'[tmux]\nsocket_name = "{socket}"\npoll_interval = "0.2s"\n{extra}'
    )
    return path


class Daemon:
    """``yesman-recovery run``; stdout is read for the metrics address, stderr collected."""

    def __init__(self, config: Path, prefix: tuple[str, ...] = ()) -> None:
        """``prefix``: words the daemon's command is run through (e.g. into a cgroup)."""
        self.config = config
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=environment(config.parent),
        )  # fmt: skip
        self.stderr: list[str] = []
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        out, err = self.process.stdout, self.process.stderr
        threading.Thread(target=_drain, args=(out, lines.put), daemon=True).start()
        threading.Thread(target=_drain, args=(err, self.stderr.append), daemon=True).start()
        self.url = ""
        deadline = time.monotonic() + DEADLINE
        while not self.url:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"the daemon did not start: {''.join(self.stderr)}") from None
            if "metrics on " in line:
                self.url = line.split("metrics on ", 1)[1].strip().removesuffix("/metrics")

    def sessions(self) -> dict[str, dict[str, Any]]:
        """``sessions list --json``, by name."""
        result = cli(self.config, "sessions", "list", "--json", "--url", self.url)
        assert result.returncode == 0, result.stderr
        return {s["name"]: s for s in json.loads(result.stdout)}

    def state_of(self, name: str) -> str | None:
        found = self.sessions().get(name)
        return None if found is None else str(found["state"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=DEADLINE)
