"""A truncated or foreign ``data.mdb``: a one-line error and exit 1, never a SIGBUS; and
``run --reset-damaged-store`` moves it aside and starts with an empty store."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from yesman_recovery.errors import DamagedStoreError
from yesman_recovery.storage import open_store
from yesman_recovery.storage.datafile import check_data_file

DEADLINE = 30.0


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    state = tmp_path / "state"
    with open_store(state, durability="fast") as store:
        for i in range(300):
            store.checkpoints.create(f"s{i % 7}", {"i": i, "text": "x" * 3000})
    config = tmp_path / "yr.toml"
    config.write_text(
        f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{state}"\n'
        f'[tmux]\nsocket_name = "yr-test-{secrets.token_hex(6)}"\nadopt = "none"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("YESMAN_RECOVERY_")}
    return state, config, env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", *args],
        capture_output=True, text=True, env=env, timeout=DEADLINE, check=False,
    )  # fmt: skip


def damage(data: Path, how: str) -> None:
    if how == "truncated":
        size = data.stat().st_size
        os.truncate(data, size // 3)
    else:
        data.write_bytes(b"not a store " * 1000)


@pytest.mark.parametrize("how", ["truncated", "foreign"])
def test_commands_refuse_a_damaged_store_with_one_line(
    setup: tuple[Path, Path, dict[str, str]], how: str
) -> None:
    state, config, env = setup
    data = state / "data.mdb"
    damage(data, how)
    for args in (["checkpoints", "list"], ["run"], ["audit"]):
        result = cli(env, "--config", str(config), *args)
        assert result.returncode == 1, (args, result.returncode, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(data) in lines[0]
        assert "--reset-damaged-store" in lines[0]
        assert "Traceback" not in result.stderr


def test_reset_damaged_store_moves_it_aside_and_starts_empty(
    setup: tuple[Path, Path, dict[str, str]],
) -> None:
    state, config, env = setup
    damage(state / "data.mdb", "truncated")
    process = subprocess.Popen(
        [sys.executable, "-m", "yesman_recovery.cli", "--config", str(config), "run",
         "--reset-damaged-store"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("yesman-recovery: running"):
                break
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    moved = list(state.glob("data.mdb.damaged-*"))
    assert len(moved) == 1
    assert "moved it to" in err
    check_data_file(state)  # the new store is sound
    with open_store(state, durability="fast") as store:
        assert store.checkpoints.list() == []


def test_a_sound_store_passes_the_guard(setup: tuple[Path, Path, dict[str, str]]) -> None:
    state, _config, _env = setup
    check_data_file(state)
    with open_store(state, durability="fast") as store:
        assert len(store.checkpoints.list(limit=None)) > 0


def test_a_cut_at_every_page_is_caught(tmp_path: Path) -> None:
    state = tmp_path / "s"
    with open_store(state, durability="fast") as store:
        for i in range(50):
            store.checkpoints.create("s", {"i": i, "text": "y" * 5000})
    data = (state / "data.mdb").read_bytes()
    for cut in range(1, len(data), 4096):
        (state / "data.mdb").write_bytes(data[:cut])
        with pytest.raises(DamagedStoreError, match=r"data\.mdb"):
            check_data_file(state)
