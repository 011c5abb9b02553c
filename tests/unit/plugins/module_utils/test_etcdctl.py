"""module_utils/_etcdctl.py against output captured from real etcd 3.4 and 3.5."""
import json

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _etcdctl as u

from conftest import FIXTURES, VERSIONS


def fixture(version, name):
    return (FIXTURES / version / name).read_text()


class FakeModule:
    """Just enough AnsibleModule for EtcdCtl: records argv/env, replays answers."""

    def __init__(self, answers, params=None):
        self.answers = list(answers)
        self.calls = []
        self.params = dict(endpoints=None, cacert="/pki/ca.crt", cert="/pki/admin.crt",
                           key="/pki/admin.key", user=None, password=None,
                           etcdctl_path="/usr/local/bin/etcdctl", etcdutl_path=None,
                           dial_timeout="5s", command_timeout="15s")
        self.params.update(params or {})

    def run_command(self, argv, environ_update=None, check_rc=False):
        self.calls.append((argv, environ_update or {}))
        return self.answers.pop(0)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/local/bin/" + name


@pytest.mark.parametrize("version", VERSIONS)
def test_member_list_parses_unstarted_learner(version):
    mod = FakeModule([(0, fixture(version, "version.txt"), ""),
                      (0, fixture(version, "member_list_unstarted_learner.json"), "")])
    members = u.EtcdCtl(mod).member_list()
    assert len(members) == 2
    learner = [m for m in members if m["is_learner"]][0]
    assert learner["name"] == "" and not learner["started"] and learner["client_urls"] == []
    assert learner["id_hex"] == "%x" % learner["id"]
    voter = [m for m in members if not m["is_learner"]][0]
    assert voter["name"] == "node1" and voter["started"]
    argv, env = mod.calls[-1]
    # Connection settings travel in the environment only: etcdctl refuses a
    # flag whose ETCDCTL_* variable is also set.
    assert not any(a.startswith("--endpoints") or a.startswith("--cacert") for a in argv)
    assert env["ETCDCTL_CACERT"] == "/pki/ca.crt" and env["ETCDCTL_ENDPOINTS"] == "https://127.0.0.1:2379"
    assert "ETCDCTL_USER" not in env
    assert "--consistency=l" not in argv  # 3.4/3.5 have no linearizable member list flag


def test_member_list_linearizable_on_36():
    mod = FakeModule([(0, "etcdctl version: 3.6.16\nAPI version: 3.6\n", ""),
                      (0, fixture("3.5.30", "member_list_single.json"), "")])
    u.EtcdCtl(mod).member_list()
    assert "--consistency=l" in mod.calls[-1][0]


def test_password_stays_off_argv():
    mod = FakeModule([(0, fixture("3.5.30", "alarm_list.json"), "")],
                     params=dict(user="root", password="s3cret"))
    u.EtcdCtl(mod).alarms()
    argv, env = mod.calls[-1]
    assert "s3cret" not in " ".join(argv)
    assert env["ETCDCTL_USER"] == "root:s3cret"


@pytest.mark.parametrize("version", VERSIONS)
def test_endpoint_status_and_health(version):
    mod = FakeModule([(0, fixture(version, "endpoint_status.json"), ""),
                      (0, fixture(version, "endpoint_health.json"), ""),
                      (1, fixture(version, "endpoint_health_down.json"), "Error: unhealthy cluster")])
    ctl = u.EtcdCtl(mod)
    st = ctl.endpoint_status(["http://127.0.0.1:23791"])[0]
    raw = json.loads(fixture(version, "endpoint_status.json"))[0]["Status"]
    assert st["leader"] == "%x" % raw["leader"] and st["member_id"] == st["leader"]
    assert st["version"] == version and st["db_size"] == raw["dbSize"]
    health = ctl.endpoint_health(["http://127.0.0.1:23791", "http://127.0.0.1:23799"])
    assert health["http://127.0.0.1:23791"]["health"] is True
    assert health["http://127.0.0.1:23799"]["health"] is False
    assert "deadline" in health["http://127.0.0.1:23799"]["error"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name,kind", [
    ("err_promote_not_ready.txt", "learner_not_ready"),
    ("err_too_many_learners.txt", "too_many_learners"),
    ("err_peer_url_exists.txt", "peer_url_exists"),
    ("err_member_not_found.txt", "member_not_found"),
    ("err_env_flag_conflict.txt", "env_conflict"),
])
def test_real_error_messages_classified(version, name, kind):
    assert u.classify(fixture(version, name)) == kind


@pytest.mark.parametrize("msg,kind,retry", [
    ("Error: etcdserver: re-configuration failed due to not enough started members", "not_enough_started", False),
    ("Error: etcdserver: unhealthy cluster", "unhealthy", True),
    ("Error: etcdserver: request timed out", "timeout", True),
    ("Error: etcdserver: leader changed", "not_leader", True),
    ("Error: context deadline exceeded", "timeout", True),
    ("Error: something new", "unknown", False),
])
def test_error_classes_and_retry(msg, kind, retry):
    err = u.EtcdError("x", 1, "", msg)
    assert err.kind == kind and err.retryable is retry


def test_member_add_raises_with_class():
    mod = FakeModule([(1, "", fixture("3.5.30", "err_too_many_learners.txt"))])
    with pytest.raises(u.EtcdError) as exc:
        u.EtcdCtl(mod).member_add("n", ["https://10.0.0.4:2380"], True)
    assert exc.value.kind == "too_many_learners"
    assert mod.calls[0][0][1:5] == ["member", "add", "n", "--peer-urls=https://10.0.0.4:2380"]
    assert "--learner" in mod.calls[0][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_snapshot_status_tool_by_version(version):
    mod = FakeModule([(0, fixture(version, "version.txt"), ""),
                      (0, fixture(version, "snapshot_status.json"), "")])
    st = u.EtcdCtl(mod).snapshot_status("/tmp/s.db")
    raw = json.loads(fixture(version, "snapshot_status.json"))
    assert st == dict(hash=raw["hash"], revision=raw["revision"], total_keys=raw["totalKey"],
                      total_size=raw["totalSize"], version=None)
    tool = mod.calls[-1][0][0]
    assert tool.endswith("etcdutl" if version >= "3.5" else "etcdctl")


def test_ids_and_initial_cluster():
    assert u.id_hex(12937844595895774275) == "b38c751cc1932c43"
    assert u.id_hex("0xB38C") == "b38c" and u.id_hex("00ab") == "00ab"
    assert u.id_int("%x" % 12937844595895774275) == 12937844595895774275
    members = [dict(name="a", peer_urls=["https://1:2380"]), dict(name="", peer_urls=["https://4:2380"]),
               dict(name="b", peer_urls=["https://2:2380"])]
    assert u.initial_cluster(members, "d", ["https://4:2380"]) == \
        "a=https://1:2380,b=https://2:2380,d=https://4:2380"
    assert u.quorum(3) == 2 and u.quorum(4) == 3 and u.quorum(5) == 3
    assert u.parse_version(fixture("3.4.23", "version.txt")) == (3, 4, 23)
