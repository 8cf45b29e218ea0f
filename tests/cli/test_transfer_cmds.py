"""Moving a host: ``checkpoints export`` → ``checkpoints import`` on a fresh state directory →
``sessions restore`` on a real isolated tmux server."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from click.testing import CliRunner

from yesman_recovery.cli import main
from yesman_recovery.storage import open_store
from yesman_recovery.tmux import TmuxClient, take_snapshot
from yesman_recovery.tmux.client import wait_pid_gone

TAIL = ("tail", "-f", "/dev/null")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def config(tmp_path: Path, client: TmuxClient, state: str) -> Path:
    path = tmp_path / f"{state}.toml"
    path.write_text(
        f'[tmux]\nsocket_name = "{client.socket_name}"\nprograms = ["tail"]\n'
        f'[storage]\npath = "{tmp_path / state}"\n'
    )
    return path


def test_export_import_then_restore_rebuilds_the_session_on_the_new_host(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    old, new = config(tmp_path, tmux_client, "old"), config(tmp_path, tmux_client, "new")
    tmux_client.run_chain(
        [
            (
                "new-session",
                "-d",
                "-s",
                "dev",
                "-x",
                "120",
                "-y",
                "40",
                "-n",
                "agents",
                "--",
                *TAIL,
            ),
            ("split-window", "-t", "=dev:", "--", *TAIL),
        ]
    )
    before = take_snapshot(tmux_client).session("dev")
    assert before is not None
    assert invoke("sessions", "save", "dev", "--config", str(old))[0] == 0
    export = tmp_path / "host.jsonl"
    code, _, err = invoke("checkpoints", "export", "--config", str(old), "-o", str(export))
    assert code == 0, err
    assert "exported 1 checkpoint(s)" in err
    assert export.stat().st_mode & 0o777 == 0o600, "checkpoints hold command lines: private"

    pid = tmux_client.server_pid()  # the old host goes away with its sessions
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_pid_gone(pid, 5.0)

    code, out, err = invoke("checkpoints", "import", str(export), "--config", str(new))
    assert code == 0, err
    assert f"imported 1 checkpoint(s) into {tmp_path / 'new'}" in out
    code, out, err = invoke("sessions", "restore", "dev", "--config", str(new))
    assert code == 0, err
    assert out.endswith(": ok\n")
    after = take_snapshot(tmux_client).session("dev")
    assert after is not None
    assert [p.argv for p in after.panes()] == [p.argv for p in before.panes()]
    assert [p.argv for p in after.panes()] == [TAIL, TAIL], "the programs run again"
    assert [w.name for w in after.windows] == ["agents"]


def make_export(tmp_path: Path) -> Path:
    with open_store(tmp_path / "src") as store:
        store.checkpoints.create("a", {"n": 1}, {"m": 1})
        store.checkpoints.create("a", {"n": 2}, {"m": 1})
        store.checkpoints.create("b", {"n": 3})
    code, out, err = invoke("--state-dir", str(tmp_path / "src"), "checkpoints", "export")
    assert code == 0, err
    path = tmp_path / "e.jsonl"
    path.write_text(out)
    return path


def test_import_keeps_ids_times_and_states(tmp_path: Path) -> None:
    export = make_export(tmp_path)
    code, _, err = invoke(
        "--state-dir", str(tmp_path / "dst"), "checkpoints", "import", str(export)
    )
    assert code == 0, err
    with open_store(tmp_path / "src") as src, open_store(tmp_path / "dst") as dst:
        originals = src.checkpoints.list(limit=None)
        assert dst.checkpoints.list(limit=None) == originals
        for info in originals:
            assert dst.checkpoints.get(info.id).state == src.checkpoints.get(info.id).state


def test_a_corrupt_line_imports_nothing_and_is_named(tmp_path: Path) -> None:
    export = make_export(tmp_path)
    lines = export.read_text().splitlines()
    lines[2] = lines[2].replace('"n": 2', '"n": 20')  # edited in transit
    lines[3] = lines[3][:40]  # truncated
    export.write_text("\n".join(lines) + "\n")
    code, _, err = invoke(
        "--state-dir", str(tmp_path / "dst"), "checkpoints", "import", str(export)
    )
    assert code == 1
    assert "is corrupt; nothing was imported" in err
    assert "line 3: checksum mismatch" in err
    assert "line 4: not a line of JSON" in err
    with open_store(tmp_path / "dst") as dst:
        assert dst.checkpoints.list(limit=None) == []


def test_duplicates_are_refused_with_their_line_numbers(tmp_path: Path) -> None:
    export = make_export(tmp_path)
    lines = export.read_text().splitlines()
    export.write_text("\n".join([*lines, lines[1]]) + "\n")  # line 5 repeats line 2
    dst = str(tmp_path / "dst")
    code, out, err = invoke("--state-dir", dst, "checkpoints", "import", str(export))
    assert code == 1
    assert "imported 3 checkpoint(s)" in out
    assert "line 5: " in err
    assert "repeats line 2" in err
    code, out, err = invoke("--state-dir", dst, "checkpoints", "import", str(export))
    assert code == 1
    assert "imported 0 checkpoint(s)" in out
    assert "line 2: " in err
    assert "is already in the store" in err


def test_export_filters_by_scope_time_and_latest(tmp_path: Path) -> None:
    make_export(tmp_path)
    src = str(tmp_path / "src")

    def exported(*args: str) -> list[tuple[str, object]]:
        code, out, err = invoke("--state-dir", src, "checkpoints", "export", *args)
        assert code == 0, err
        records = [json.loads(line) for line in out.splitlines()[1:]]
        return [(r["scope"], r["state"]["n"]) for r in records]

    assert exported() == [("a", 1), ("a", 2), ("b", 3)]
    assert exported("a") == [("a", 1), ("a", 2)]
    assert exported("--latest") == [("a", 2), ("b", 3)]
    assert exported("--since", "1h") == [("a", 1), ("a", 2), ("b", 3)]
    header = json.loads(invoke("--state-dir", src, "checkpoints", "export")[1].splitlines()[0])
    assert header["format"] == "yesman-recovery-checkpoints"


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    code, _, err = invoke("--state-dir", str(tmp_path / "d"), "checkpoints", "import", str(other))
    assert code == 1
    assert "line 1: not a yesman-recovery-checkpoints export" in err
