"""``yesman-recovery checkpoints ...`` and ``audit`` on a real store in a temporary directory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


def test_list_of_a_directory_without_a_store_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    result = cli(tmp_path / "nothing", "checkpoints", "list")
    assert result.exit_code == 0
    assert "no checkpoints" in result.output
    assert not (tmp_path / "nothing").exists()


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
    recent = cli(state_dir, "audit", "--since", "1h", "--json")
    assert recent.exit_code == 0
    lines = [json.loads(line) for line in recent.output.splitlines()]
    assert [line["detail"] for line in lines] == ["restored", "restart"]  # oldest first
    only = cli(state_dir, "audit", "--kind", "recovery", "--subject", "agent-1", "--json")
    assert [json.loads(line)["detail"] for line in only.output.splitlines()] == ["old", "restored"]
    table = cli(state_dir, "audit", "--kind", "supervisor")
    assert "restart" in table.output
    assert "restored" not in table.output
    assert cli(state_dir, "audit", "--kind", "none-such").output.strip() == "no audit events"


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
