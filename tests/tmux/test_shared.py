"""Snapshots shared between sessions that look at the server at once; chains split by size."""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import threading
import time
from collections.abc import Mapping, Sequence

import pytest

from yesman_recovery.errors import TmuxError, TmuxServerGone
from yesman_recovery.tmux import TmuxClient
from yesman_recovery.tmux.batch import ChainBatcher
from yesman_recovery.tmux.plan import MESSAGE_LIMIT, chain_size, chunk_commands
from yesman_recovery.tmux.records import ServerSnapshot
from yesman_recovery.tmux.shared import SharedSnapshots


class SlowServer:
    """A server whose snapshot takes ``delay`` s; each snapshot's pid is its sequence number."""

    server_label = "fake"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.count = 0
        self.gone = False
        self.lock = threading.Lock()

    def run_chain(self, commands: Sequence[Sequence[str]]) -> str:
        return ""

    def server_pid(self) -> int | None:
        return 1

    def snapshot(self, *, scrollback: Mapping[str, int] | None = None) -> ServerSnapshot:
        with self.lock:
            self.count += 1
            number = self.count
        time.sleep(self.delay)
        if self.gone:
            raise TmuxServerGone("no server")
        return ServerSnapshot(number, ())


def test_sessions_looking_at_once_share_one_snapshot_and_never_get_an_older_one() -> None:
    server = SlowServer(0.05)
    shared = SharedSnapshots(server)
    got: list[tuple[int, int | None]] = []
    lock = threading.Lock()

    def look() -> None:
        before = server.count  # snapshots begun before this call
        snap = shared.snapshot()
        with lock:
            got.append((before, snap.pid))

    threads = [threading.Thread(target=look) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 40
    assert server.count <= 4  # 40 looks, a handful of snapshots
    # Each caller's snapshot began after its call: its number is past every one begun before.
    assert all(pid is not None and pid > before for before, pid in got)


def test_a_gone_server_is_gone_for_every_caller_of_that_look() -> None:
    server = SlowServer(0.05)
    server.gone = True
    shared = SharedSnapshots(server)
    errors: list[BaseException] = []

    def look() -> None:
        try:
            shared.snapshot()
        except TmuxServerGone as exc:
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 8
    assert server.count <= 3


def test_snapshots_with_scrollback_are_not_shared() -> None:
    server = SlowServer(0.0)
    shared = SharedSnapshots(server)
    shared.snapshot(scrollback={"a": 10})
    shared.snapshot(scrollback={"a": 10})
    assert server.count == 2


def test_chunks_keep_the_order_and_each_fits_in_one_message() -> None:
    cmds = [("set-option", "-g", f"@o{i}", "x" * (i % 300)) for i in range(2000)]
    chunks = chunk_commands(cmds)
    assert [c for chunk in chunks for c in chunk] == cmds
    for chunk in chunks:
        assert sum(chain_size(c) for c in chunk) - 2 <= MESSAGE_LIMIT
    # as few as the limit allows: no two neighbours would have fit together
    for a, b in itertools.pairwise(chunks):
        assert sum(chain_size(c) for c in a) + chain_size(b[0]) - 2 > MESSAGE_LIMIT


@pytest.mark.tmux
def test_tmux_takes_a_chain_at_the_limit_and_every_chunk_of_a_long_one() -> None:
    client = TmuxClient(socket_name=f"yr-test-chunk-{secrets.token_hex(4)}", timeout=10.0)
    try:
        client.run("new-session", "-d", "-s", "keep")
        at_limit = (
            "display-message",
            "-p",
            "x" * (MESSAGE_LIMIT - chain_size(("display-message", "-p", "")) + 2),
        )
        assert chain_size(at_limit) - 2 == MESSAGE_LIMIT
        assert client.run_chain([at_limit]).strip() == at_limit[2]
        values = {f"@yr_test_{i}": f"{i}-" + "v" * 100 for i in range(400)}
        chunks = chunk_commands([("set-option", "-g", k, v) for k, v in values.items()])
        assert 1 < len(chunks) < 6
        for chunk in chunks:
            client.run_chain(chunk)
        shown = dict(line.split(" ", 1) for line in client.run("show-options", "-g").splitlines())
        assert {k: shown.get(k) for k in values} == values
    finally:
        pid = client.server_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.tmux
def test_restores_at_once_share_calls_and_a_refused_plan_fails_only_its_caller() -> None:
    client = TmuxClient(socket_name=f"yr-test-batch-{secrets.token_hex(4)}", timeout=10.0)
    batcher = ChainBatcher(client)
    try:
        client.run("new-session", "-d", "-s", "taken")
        names = [f"b{i:02d}" for i in range(12)] + ["taken"]  # "taken" exists: refused
        plans = {
            n: [("new-session", "-d", "-s", n, "-c", "/tmp"), ("split-window", "-t", f"={n}:")]
            for n in names
        }
        errors: dict[str, str] = {}
        start = threading.Barrier(len(names))

        def restore(name: str) -> None:
            start.wait()
            try:
                batcher.run(plans[name])
            except TmuxError as exc:
                errors[name] = str(exc)

        threads = [threading.Thread(target=restore, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert list(errors) == ["taken"]
        assert "duplicate session" in errors["taken"]
        panes = client.run("list-panes", "-a", "-F", "#{session_name}").split()
        for name in names[:-1]:  # every other plan ran whole, before or after the refused one
            assert panes.count(name) == 2
        assert panes.count("taken") == 1
        assert batcher.calls < len(names)
    finally:
        pid = client.server_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
