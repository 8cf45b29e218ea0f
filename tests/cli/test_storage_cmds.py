"""``yesman-recovery checkpoints ...`` and ``audit`` on a real store in a temporary directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from yesman_recovery.cli import main
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store, envelope, open_store
from yesman_recovery.storage.keys import parse_checkpoint_id

WRITER = Path(__file__).resolve().parents[1] / "storage" / "crash_writer.py"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path) -> Iterator[Store]:
    with open_store(state_dir, metrics=RecoveryMetrics()) as opened:
        yield opened


def cli(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--state-dir", str(state_dir), *args], catch_exceptions=False)


def test_list_shows_newest_first_as_a_table_and_as_json(store: Store, state_dir: Path) -> None:
    ids = [store.checkpoints.create("agent 'one'", {"i": i}) for i in range(3)]
    other = store.checkpoints.create("agent-2", {"x": 1})
    result = cli(state_dir, "checkpoints", "list", "agent 'one'", "--json")
    assert result.exit_code == 0
    assert [row["id"] for row in json.loads(result.output)] == ids[::-1]
    assert json.loads(result.output)[0]["scope"] == "agent 'one'"
    table = cli(state_dir, "checkpoints", "list", "--limit", "2")
    assert table.exit_code == 0
    assert other in table.output
    assert ids[2] in table.output
    assert ids[0] not in table.output  # only the two newest


def test_a_missing_state_directory_is_named_with_exit_1_and_not_created(tmp_path: Path) -> None:
    for args in (("checkpoints", "list"), ("audit",), ("checkpoints", "verify")):
        result = cli(tmp_path / "nothing", *args)
        assert result.exit_code == 1, args
        assert f"the state directory {tmp_path / 'nothing'} does not exist" in result.output
        assert "--state-dir" in result.output
    assert not (tmp_path / "nothing").exists()


def test_a_directory_without_a_store_is_named_as_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    result = cli(empty, "checkpoints", "list")
    assert result.exit_code == 0
    assert result.output.strip() == f"no checkpoints in {empty}: it holds no store yet " + (
        "(no daemon has written there)"
    )
    assert cli(empty, "audit").output.startswith(f"no audit events in {empty}")
    assert json.loads(cli(empty, "checkpoints", "list", "--json").output) == []
    assert list(empty.iterdir()) == [], "looking creates nothing"


def test_an_unreadable_state_directory_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    if os.geteuid() == 0:  # root reads through any mode: make listdir answer as the kernel would
        real = os.listdir

        def listdir(path: Any) -> list[str]:
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(os, "listdir", listdir)
    try:
        result = CliRunner().invoke(main, ["--state-dir", str(locked), "audit"])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1
    assert f"cannot read the state directory {locked}: permission denied" in result.output
    assert f"chmod 700 {locked}" in result.output


def test_internal_scopes_are_hidden_unless_all(store: Store, state_dir: Path) -> None:
    from yesman_recovery.actors.watcher import ADOPTED_SCOPE
    from yesman_recovery.cli.storage_cmds import INTERNAL_SCOPE_PREFIX

    assert ADOPTED_SCOPE.startswith(INTERNAL_SCOPE_PREFIX)
    session = store.checkpoints.create("dev", {"a": 1})
    internal = store.checkpoints.create(ADOPTED_SCOPE, {"sessions": ["dev"]})
    shown = cli(state_dir, "checkpoints", "list", "--json")
    assert [row["id"] for row in json.loads(shown.output)] == [session]
    everything = cli(state_dir, "checkpoints", "list", "--all", "--json")
    assert [row["id"] for row in json.loads(everything.output)] == [internal, session]
    asked = cli(state_dir, "checkpoints", "list", ADOPTED_SCOPE, "--json")
    assert [row["id"] for row in json.loads(asked.output)] == [internal]


def test_show_prints_state_and_metadata(store: Store, state_dir: Path) -> None:
    checkpoint = store.checkpoints.create("s", {"windows": [{"name": "édit"}]}, {"reason": "tick"})
    result = cli(state_dir, "checkpoints", "show", checkpoint, "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["state"] == {"windows": [{"name": "édit"}]}
    assert document["metadata"] == {"reason": "tick"}
    human = cli(state_dir, "checkpoints", "show", checkpoint)
    assert '"name": "édit"' in human.output
    assert "reason" in human.output


def test_show_of_a_missing_id_exits_1_and_of_a_malformed_one_exits_2(
    store: Store, state_dir: Path
) -> None:
    checkpoint = store.checkpoints.create("s", {"a": 1})
    store.checkpoints.delete(checkpoint)
    missing = cli(state_dir, "checkpoints", "show", checkpoint)
    assert missing.exit_code == 1
    assert f"no checkpoint {checkpoint}" in missing.output
    malformed = cli(state_dir, "checkpoints", "show", "not-an-id")
    assert malformed.exit_code == 2
    assert "not a checkpoint id" in malformed.output


def test_verify_exits_1_and_names_the_corrupt_ids(store: Store, state_dir: Path) -> None:
    good = store.checkpoints.create("s", {"n": "good"})
    bad = store.checkpoints.create("s", {"n": "bad"})
    assert cli(state_dir, "checkpoints", "verify").exit_code == 0
    key = parse_checkpoint_id(bad)
    stored = envelope.seal(key, b'{"metadata":{},"state":{"n":"bad"}}')
    data = (state_dir / "data.mdb").read_bytes()
    assert stored in data
    (state_dir / "data.mdb").write_bytes(data.replace(stored, stored[:-5] + b"X" + stored[-4:]))
    result = cli(state_dir, "checkpoints", "verify")
    assert result.exit_code == 1
    assert "1 of 2 checkpoints are corrupt" in result.output
    assert bad in result.output
    assert good not in result.output
    as_json = cli(state_dir, "checkpoints", "verify", "--json")
    assert as_json.exit_code == 1
    assert [c["id"] for c in json.loads(as_json.output)["corrupt"]] == [bad]
    shown = cli(state_dir, "checkpoints", "show", bad)
    assert shown.exit_code == 1
    assert "corrupt" in shown.output


def test_prune_uses_the_configured_retention_and_dry_run_drops_nothing(
    store: Store, state_dir: Path, tmp_path: Path
) -> None:
    ids = [store.checkpoints.create("s", {"i": i}) for i in range(5)]
    config = tmp_path / "config.toml"
    config.write_text("[storage.retention]\nkeep_last = 2\n")
    dry = cli(state_dir, "--config", str(config), "checkpoints", "prune", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would drop 3 checkpoint(s)" in dry.output
    assert len(store.checkpoints.list("s")) == 5
    done = CliRunner().invoke(
        main,
        ["--config", str(config), "--state-dir", str(state_dir), "checkpoints", "prune", "--json"],
    )
    assert done.exit_code == 0, done.output
    assert sorted(d["id"] for d in json.loads(done.output)["dropped"]) == sorted(ids[:3])
    assert [c.id for c in store.checkpoints.list("s")] == ids[:2:-1]


def test_audit_filters_by_time_kind_and_subject(store: Store, state_dir: Path) -> None:
    now = time.time()
    store.audit.append("recovery", "agent-1", detail="old", time=now - 7200)
    store.audit.append(
        "recovery", "agent-1", detail="restored", action="restore", outcome="ok", duration=1.5
    )
    store.audit.append("supervisor", "root", detail="restart")
    recent = cli(state_dir, "audit", "--since", "1h", "--jsonl")
    assert recent.exit_code == 0
    lines = [json.loads(line) for line in recent.output.splitlines()]
    assert [line["detail"] for line in lines] == ["restored", "restart"]  # oldest first
    only = cli(state_dir, "audit", "--kind", "recovery", "--subject", "agent-1", "--json")
    assert [event["detail"] for event in json.loads(only.output)] == ["old", "restored"]
    table = cli(state_dir, "audit", "--kind", "supervisor")
    assert "restart" in table.output
    assert "restored" not in table.output
    quiet = cli(state_dir, "audit", "--kind", "corruption")  # known, nothing happened
    assert (quiet.exit_code, quiet.output.strip()) == (0, f"no audit events in {state_dir}")


def test_audit_names_an_unknown_kind_or_subject_with_the_known_ones(
    store: Store, state_dir: Path
) -> None:
    store.audit.append("recovery", "agent-1", detail="restored")
    bogus = CliRunner().invoke(main, ["--state-dir", str(state_dir), "audit", "--kind", "bogus"])
    assert bogus.exit_code == 2
    assert "unknown kind 'bogus'; known kinds: breaker, config, control, corruption, health, " in (
        bogus.output
    )
    typo = CliRunner().invoke(main, ["--state-dir", str(state_dir), "audit", "-s", "agent-2"])
    assert typo.exit_code == 2
    assert "no audit event is about 'agent-2'; subjects in the trail: agent-1" in typo.output


def test_every_list_prints_a_json_array_or_json_lines(store: Store, state_dir: Path) -> None:
    store.checkpoints.create("a", {"i": 1})
    store.checkpoints.create("b", {"i": 2})
    store.audit.append("recovery", "a")
    store.audit.append("recovery", "b")
    for args in (("checkpoints", "list"), ("audit",)):
        array = json.loads(cli(state_dir, *args, "--json").output)
        lines = [json.loads(x) for x in cli(state_dir, *args, "--jsonl").output.splitlines()]
        assert isinstance(array, list)
        assert len(array) == 2
        assert lines == array, args


def test_audit_with_a_bad_duration_exits_2(state_dir: Path) -> None:
    result = cli(state_dir, "audit", "--since", "yesterday")
    assert result.exit_code == 2
    assert "'yesterday' is not a duration" in result.output


def test_a_store_others_can_read_is_refused_with_exit_1(store: Store, state_dir: Path) -> None:
    store.checkpoints.create("s", {"a": 1})
    state_dir.chmod(0o755)
    result = cli(state_dir, "checkpoints", "list")
    assert result.exit_code == 1
    assert "chmod 700" in result.output


def test_the_cli_reads_while_a_writer_process_writes(state_dir: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(state_dir), "durable", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "READY"
        assert writer.stdout.readline().startswith("C ")  # at least one checkpoint committed
        # keep reading its reports, so that a full pipe never stops the writer
        drain = threading.Thread(target=writer.stdout.read, daemon=True)
        drain.start()
        seen = []
        for _ in range(2):
            listed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "yesman_recovery.cli",
                    "--state-dir",
                    str(state_dir),
                    "checkpoints",
                    "list",
                    "--json",
                    "--limit",
                    "3",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert listed.returncode == 0, listed.stderr
            seen.append([row["id"] for row in json.loads(listed.stdout)])
            assert writer.poll() is None  # the writer was writing all along
        assert seen[0] != seen[1]  # the second read saw newer checkpoints
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        if drain.is_alive():
            drain.join(timeout=10)
        if writer.stdout is not None:
            writer.stdout.close()
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "yesman_recovery.cli",
            "--state-dir",
            str(state_dir),
            "checkpoints",
            "verify",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
