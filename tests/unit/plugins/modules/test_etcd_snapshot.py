"""etcd_snapshot decisions: retention, skip-if-recent, atomic save, restore guards."""
import os
import time

import pytest

from ansible_collections.raftops.etcd.plugins.modules import etcd_snapshot as es


class FakeCtl:
    def __init__(self):
        self.saved, self.restored = [], []

    def cluster_view(self):
        return {"members": [
            {"is_leader": False, "healthy": True, "client_urls": ["https://10.0.0.1:2379"]},
            {"is_leader": True, "healthy": True, "client_urls": ["https://10.0.0.2:2379"]}]}

    def snapshot_save(self, endpoint, path):
        self.saved.append((endpoint, path))
        with open(path, "wb") as f:
            f.write(b"snapshot")

    def snapshot_status(self, path):
        return {"hash": 1, "revision": 2, "total_keys": 3, "total_size": os.path.getsize(path)}

    def snapshot_restore(self, path, data_dir, name, peer_urls, ic, token, bump=None, mark=False):
        self.restored.append((path, data_dir, name, ic, token, bump, mark))
        os.makedirs(os.path.join(data_dir, "member"))


class FakeModule:
    def __init__(self, check_mode=False, **params):
        self.check_mode = check_mode
        self.params = dict(path=None, prefix="etcd-snapshot", keep=0, skip_if_newer_than=0,
                           endpoint=None, trial_restore=False, data_dir=None, name="m1",
                           peer_urls=["https://10.0.0.1:2380"], initial_cluster="m1=https://10.0.0.1:2380",
                           initial_cluster_token="t2", move_aside=False, bump_revision=None,
                           mark_compacted=False, owner=None, group=None)
        self.params.update(params)

    def fail_json(self, **kw):
        raise RuntimeError(kw["msg"])


def make_snaps(d, n):
    for i in range(n):
        p = d / f"etcd-snapshot-2026112{i}T000000Z.db"
        p.write_bytes(b"x")
        os.utime(p, (time.time() - 1000 + i, time.time() - 1000 + i))


def test_retention_keeps_newest(tmp_path):
    make_snaps(tmp_path, 5)
    files = es.snapshots(str(tmp_path), "etcd-snapshot")
    assert files[0].endswith("4T000000Z.db")
    assert [os.path.basename(f) for f in es.retention(files, 2)] == [
        f"etcd-snapshot-2026112{i}T000000Z.db" for i in (2, 1, 0)]
    assert es.retention(files, 0) == []


def test_save_from_leader_atomic_0600_with_retention(tmp_path):
    make_snaps(tmp_path, 3)
    ctl = FakeCtl()
    res = es.save(FakeModule(path=str(tmp_path), keep=2), ctl)
    assert res["changed"] and res["endpoint"] == "https://10.0.0.2:2379"
    assert ctl.saved[0][1].endswith(".part")  # written aside, then renamed
    assert os.stat(res["path"]).st_mode & 0o777 == 0o600
    assert len(es.snapshots(str(tmp_path), "etcd-snapshot")) == 2 and len(res["deleted"]) == 2
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".part")]


def test_save_skipped_when_recent(tmp_path):
    (tmp_path / "etcd-snapshot-x.db").write_bytes(b"x")
    ctl = FakeCtl()
    res = es.save(FakeModule(path=str(tmp_path), skip_if_newer_than=3600), ctl)
    assert not res["changed"] and not ctl.saved


def test_save_check_mode_does_nothing(tmp_path):
    ctl = FakeCtl()
    res = es.save(FakeModule(check_mode=True, path=str(tmp_path)), ctl)
    assert res["changed"] and not ctl.saved and not os.listdir(tmp_path)


def test_restore_refuses_non_empty_then_moves_aside_then_is_idempotent(tmp_path):
    snap = tmp_path / "s.db"
    snap.write_bytes(b"snapshot")
    data = tmp_path / "data"
    (data / "member").mkdir(parents=True)
    ctl = FakeCtl()
    with pytest.raises(RuntimeError, match="not empty; set move_aside=true"):
        es.restore(FakeModule(path=str(snap), data_dir=str(data)), ctl)
    assert not ctl.restored
    res = es.restore(FakeModule(path=str(snap), data_dir=str(data), move_aside=True,
                                bump_revision=1000, mark_compacted=True), ctl)
    assert res["changed"] and os.path.isdir(res["moved_aside"])
    assert ctl.restored[0][2:] == ("m1", "m1=https://10.0.0.1:2380", "t2", 1000, True)
    assert os.stat(data).st_mode & 0o777 == 0o700
    again = es.restore(FakeModule(path=str(snap), data_dir=str(data)), ctl)
    assert not again["changed"] and len(ctl.restored) == 1


# --- a restore killed between members (issue #12) ------------------------------

from ansible_collections.raftops.etcd.plugins.filter import restore as rf  # noqa: E402
from ansible_collections.raftops.etcd.plugins.module_utils import _restore  # noqa: E402

IC = "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,m3=https://10.0.0.3:2380"


def test_restore_of_the_same_file_with_another_token_is_a_new_restore(tmp_path):
    """The old marker (the digest alone) skipped any later restore of the same
    file, whatever its token: the members restored by a killed run kept a
    cluster ID the re-run's members did not have."""
    snap = tmp_path / "s.db"
    snap.write_bytes(b"snapshot")
    data = tmp_path / "data"
    ctl = FakeCtl()
    es.restore(FakeModule(path=str(snap), data_dir=str(data), initial_cluster=IC, initial_cluster_token="t1"), ctl)
    marker = (data / _restore.MARKER).read_text()
    assert marker.split()[:2] == [es.sha256(str(snap)), "t1"]
    same = es.restore(FakeModule(path=str(snap), data_dir=str(data), initial_cluster=IC, initial_cluster_token="t1"), ctl)
    assert not same["changed"] and len(ctl.restored) == 1
    other = es.restore(FakeModule(path=str(snap), data_dir=str(data), move_aside=True, initial_cluster=IC,
                                  initial_cluster_token="t2"), ctl)
    assert other["changed"] and os.path.isdir(other["moved_aside"]) and ctl.restored[-1][4] == "t2"


def test_old_digest_only_marker_is_restored_again(tmp_path):
    snap = tmp_path / "s.db"
    snap.write_bytes(b"snapshot")
    data = tmp_path / "data"
    (data / "member").mkdir(parents=True)
    (data / _restore.MARKER).write_text(es.sha256(str(snap)) + "\n")
    res = es.restore(FakeModule(path=str(snap), data_dir=str(data), move_aside=True), FakeCtl())
    assert res["changed"]


def test_resume_finds_the_token_of_the_members_restored_already():
    d = "ab" * 32
    done = _restore.marker_text(d, "day2-restored-abc", IC)
    # etcd-1 restored before the kill, etcd-2 and etcd-3 still hold the old data.
    assert rf.etcd_restore_resume([done, "", ""], d, IC) == "day2-restored-abc"
    assert rf.etcd_restored_same(done, d, "day2-restored-abc", IC)
    assert not rf.etcd_restored_same("", d, "day2-restored-abc", IC)
    # Another file, another initial cluster, or an old marker: nothing to resume.
    assert rf.etcd_restore_resume([done], "cd" * 32, IC) == ""
    assert rf.etcd_restore_resume([done], d, IC + ",m4=https://10.0.0.4:2380") == ""
    assert rf.etcd_restore_resume([d + "\n", ""], d, IC) == ""
    # Two interrupted runs: the token most members have.
    two = _restore.marker_text(d, "t-other", IC)
    assert rf.etcd_restore_resume([two, done, done], d, IC) == "day2-restored-abc"


def test_restore_filters_are_registered():
    assert set(rf.FilterModule().filters()) == {"etcd_restore_resume", "etcd_restored_same"}
