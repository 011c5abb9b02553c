"""etcd_v2store_info: the private copy etcdutl checks, and what is returned."""
import os

from ansible_collections.raftops.etcd.plugins.modules import etcd_v2store_info as m


def make_data(tmp_path):
    data = tmp_path / "etcd"
    (data / "member" / "snap").mkdir(parents=True)
    (data / "member" / "wal").mkdir(parents=True)
    (data / "member" / "snap" / "0000000000000002-0000000000000007.snap").write_text("s")
    (data / "member" / "snap" / "db").write_text("bbolt, never read")
    (data / "member" / "wal" / "0000000000000000-0000000000000000.wal").write_text("w")
    (data / "member" / "wal" / "0.tmp").write_text("preallocated")
    return data


def test_stage_links_snap_and_wal_only(tmp_path):
    data = make_data(tmp_path)
    tmp = m.stage(str(data))
    try:
        assert os.path.dirname(tmp) == str(data)
        names = sorted(os.path.relpath(os.path.join(d, f), tmp) for d, _dirs, fs in os.walk(tmp) for f in fs)
        assert names == ["member/snap/0000000000000002-0000000000000007.snap",
                         "member/wal/0000000000000000-0000000000000000.wal"]
        wal = os.path.join(tmp, names[1])
        assert os.stat(wal).st_ino == os.stat(data / "member" / "wal" / os.path.basename(wal)).st_ino
    finally:
        import shutil
        shutil.rmtree(tmp)


class Mod:
    def __init__(self, data_dir, answer):
        self.params = dict(data_dir=data_dir, etcdutl_path="/bin/etcdutl", etcdctl_path="/bin/etcdctl",
                           endpoints=None)
        self.answer = answer
        self.seen = None

    def run_command(self, argv, environ_update=None, check_rc=False):
        self.seen = argv
        assert os.path.isdir(os.path.join(argv[-1], "member", "wal"))
        return self.answer

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/bin/" + name


def test_check_reports_wal_and_cleans_up(tmp_path):
    data = make_data(tmp_path)
    mod = Mod(str(data), (1, "", "Error: detected custom v2 content in WAL records\n"))
    res = m.check(mod)
    assert (res["result"], res["custom_wal"], res["custom_store"], res["changed"]) == ("wal", True, False, False)
    assert sorted(os.listdir(data)) == ["member"]


def test_check_without_member_data(tmp_path):
    res = m.check(Mod(str(tmp_path), None))
    assert res["result"] == "empty" and not res["custom_wal"] and not res["custom_store"]
