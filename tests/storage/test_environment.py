"""The LMDB environment: map growth, schema, permissions, sharing, full disk, fork."""

from __future__ import annotations

import os
import resource
import stat
import threading
from pathlib import Path

import lmdb
import pytest

from yesman_recovery.errors import SchemaError, StoreError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import RetentionPolicy, Store, default_state_dir, open_store

from .conftest import noise, sample_value


def test_a_full_map_grows_transparently(state_dir: Path) -> None:
    with open_store(state_dir, durability="fast", map_size=64 * 1024) as store:
        states = [noise(8) for _ in range(40)]  # ~320 KiB into a 64 KiB map
        ids = [store.checkpoints.create(f"s{i % 3}", state) for i, state in enumerate(states)]
        usage = store.usage()
        assert usage.map_size >= 512 * 1024
        assert [store.checkpoints.restore(i) for i in ids] == states
        assert store.checkpoints.verify().ok


def test_a_new_store_is_private_and_reopens(tmp_path: Path) -> None:
    state_dir = tmp_path / "deep" / "state"
    old_umask = os.umask(0)  # the modes must not depend on the caller's umask
    try:
        with open_store(state_dir) as store:
            checkpoint = store.checkpoints.create("s", {"a": 1})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for name in ("data.mdb", "lock.mdb"):
        assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600
    with open_store(state_dir) as store:
        assert store.checkpoints.restore(checkpoint) == {"a": 1}


def test_a_directory_others_can_read_is_refused(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    with pytest.raises(StoreError, match=rf"mode 0755.*chmod 700 {state_dir}"):
        open_store(state_dir)
    assert not (state_dir / "data.mdb").exists()


def test_a_store_file_others_can_read_is_refused(state_dir: Path) -> None:
    open_store(state_dir).close()
    (state_dir / "data.mdb").chmod(0o644)
    with pytest.raises(StoreError, match=r"data\.mdb has mode 0644"):
        open_store(state_dir)


def test_a_file_in_place_of_the_directory_is_refused(state_dir: Path) -> None:
    state_dir.write_text("")
    with pytest.raises(StoreError, match="not a directory"):
        open_store(state_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_directory_owned_by_someone_else_is_refused(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    os.chown(state_dir, 54321, 54321)
    with pytest.raises(StoreError, match=r"owned by uid 54321, not by you \(uid 0\)"):
        open_store(state_dir)


def _set_schema(state_dir: Path, value: bytes | None) -> None:
    env = lmdb.open(str(state_dir), max_dbs=8)
    try:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            if value is None:
                txn.delete(b"schema", db=meta)
            else:
                txn.put(b"schema", value, db=meta)
    finally:
        env.close()


def test_a_newer_schema_is_refused_with_a_clear_message(state_dir: Path) -> None:
    open_store(state_dir).close()
    _set_schema(state_dir, b"99")
    with pytest.raises(SchemaError, match=r"schema version 99.*up to 1: upgrade yesman-recovery"):
        open_store(state_dir)
    _set_schema(state_dir, b"garbage")
    with pytest.raises(SchemaError, match="unreadable schema version"):
        open_store(state_dir)


@pytest.mark.parametrize("old", [b"0", None])
def test_an_older_schema_is_migrated_and_keeps_its_data(state_dir: Path, old: bytes | None) -> None:
    with open_store(state_dir) as store:
        checkpoint = store.checkpoints.create("s", {"kept": True})
    _set_schema(state_dir, old)
    with open_store(state_dir) as store:
        assert store.checkpoints.restore(checkpoint) == {"kept": True}
    env = lmdb.open(str(state_dir), max_dbs=8, readonly=True)
    try:
        with env.begin() as txn:
            assert txn.get(b"schema", db=env.open_db(b"meta", txn=txn, create=False)) == b"1"
    finally:
        env.close()


def test_two_opens_in_one_process_share_the_environment(state_dir: Path) -> None:
    first = open_store(state_dir, metrics=RecoveryMetrics())
    second = open_store(state_dir, metrics=RecoveryMetrics())
    checkpoint = first.checkpoints.create("s", {"n": 1})
    assert second.checkpoints.restore(checkpoint) == {"n": 1}
    first.close()
    first.close()  # idempotent
    assert second.checkpoints.restore(checkpoint) == {"n": 1}  # still open for the other
    with pytest.raises(StoreError, match="is closed; open it again"):
        first.checkpoints.list()
    second.close()
    with open_store(state_dir) as third:
        assert third.checkpoints.restore(checkpoint) == {"n": 1}


def test_a_second_open_with_another_durability_is_refused(state_dir: Path) -> None:
    with open_store(state_dir, durability="fast") as store:
        assert store.durability == "fast"
        with pytest.raises(StoreError, match="already open in this process with durability='fast'"):
            open_store(state_dir, durability="durable")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"durability": "sometimes"}, "`durability`"), ({"map_size": 0}, "`map_size`")],
)
def test_bad_open_arguments(state_dir: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(state_dir, **kwargs)  # type: ignore[arg-type]


def test_default_state_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "yesman-recovery"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "yesman-recovery"
    monkeypatch.delenv("XDG_STATE_HOME")
    with open_store(None, durability="fast") as store:
        assert store.path == tmp_path / "home" / ".local" / "state" / "yesman-recovery"


def test_a_full_disk_is_a_clear_error_and_the_store_stays_consistent(
    state_dir: Path, file_size_limit: None
) -> None:
    with open_store(state_dir, durability="durable") as store:
        written = {
            store.checkpoints.create("s", state): state for state in (noise(4) for _ in range(5))
        }
        size = (state_dir / "data.mdb").stat().st_size
        # the file may not grow past 256 KiB more: writes beyond fail with EFBIG, as on a full disk
        resource.setrlimit(
            resource.RLIMIT_FSIZE, (size + 256 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1])
        )

        def fill_the_disk() -> None:
            for _ in range(200):
                state = noise(16)
                written[store.checkpoints.create("s", state)] = state

        with pytest.raises(
            StoreError, match=r"\(mdb_txn_commit: .*\); nothing was written.*prune"
        ) as info:
            fill_the_disk()
        assert "Traceback" not in str(info.value)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    with open_store(state_dir, durability="durable") as store:
        assert store.checkpoints.verify().ok
        assert {
            c.id: store.checkpoints.restore(c.id) for c in store.checkpoints.list(limit=None)
        } == written
        store.checkpoints.create("s", {"after": "space came back"})


def test_a_forked_child_is_told_to_open_its_own_store(store: Store) -> None:
    store.checkpoints.create("s", {"n": 1})
    pid = os.fork()
    if pid == 0:  # child: must refuse the parent's environment, not corrupt it
        code = 1
        try:
            store.checkpoints.list()
        except StoreError as exc:
            code = 0 if "before a fork" in str(exc) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.checkpoints.latest("s").state == {"n": 1}  # type: ignore[union-attr]


def test_maintain_prunes_compacts_and_reports_sizes(
    store: Store, metrics: RecoveryMetrics, clock: object
) -> None:
    for i in range(5):
        store.checkpoints.create("s", {"i": i})
    store.journal.append("tx-done", "begin")
    store.journal.append("tx-done", "committed", terminal=True)
    store.journal.append("tx-open", "begin")
    report = store.maintain(RetentionPolicy(keep_last=2), journal_keep=0)
    assert len(report.pruned.dropped) == 3
    assert report.transactions_compacted == 1
    assert report.stale_readers_cleared == 0
    assert [store.checkpoints.restore(c.id) for c in store.checkpoints.list("s")] == [
        {"i": 4},
        {"i": 3},
    ]
    assert store.journal.unfinished() == ["tx-open"]
    assert report.usage.db_bytes["checkpoints"] > 0
    assert (
        sample_value(metrics, "yesman_recovery_store_bytes", {"db": "checkpoints"})
        == report.usage.db_bytes["checkpoints"]
    )
    assert sample_value(metrics, "yesman_recovery_store_map_bytes") == report.usage.map_size
    assert (
        0 < sample_value(metrics, "yesman_recovery_store_map_used_bytes") <= report.usage.map_size
    )


def test_threads_reading_and_writing_while_the_map_grows(state_dir: Path) -> None:
    errors: list[BaseException] = []
    written: dict[str, dict[str, str]] = {}
    with open_store(state_dir, durability="fast", map_size=64 * 1024) as store:

        def writer(n: int) -> None:
            try:
                for i in range(15):
                    state = noise(6)
                    written[store.checkpoints.create(f"t{n}-{i % 2}", state)] = state
            except BaseException as exc:  # reported to the test thread
                errors.append(exc)

        def reader() -> None:
            try:
                for _ in range(60):
                    for info in store.checkpoints.list(limit=5):
                        store.checkpoints.get(info.id)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        threads += [threading.Thread(target=reader) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert len(written) == 60
        assert store.usage().map_size > 64 * 1024
        assert all(store.checkpoints.restore(cid) == state for cid, state in written.items())


def test_a_symlinked_state_directory_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    link = tmp_path / "state"
    link.symlink_to(real)
    with open_store(link, durability="fast") as store:
        store.checkpoints.create("s", {"a": 1})
    assert (real / "data.mdb").exists()
