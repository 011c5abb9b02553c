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


# ---------------------------------------------------------------- downgrades
# stderr of etcdctl 3.7.3 against a 3.7.3 cluster on loopback, as captured
# (the retry log line, then etcdctl's own message).
ERR_INVALID_TARGET = (
    '{"level":"warn","ts":"2026-11-23T21:33:53.366841Z","logger":"etcd-client","caller":"v3@v3.7.3/retry_interceptor.go:68",'
    '"msg":"retrying of unary invoker failed","target":"etcd-endpoints://0x14dd4d178c00/127.0.0.1:24791",'
    '"method":"/etcdserverpb.Maintenance/Downgrade","attempt":0,'
    '"error":"rpc error: code = InvalidArgument desc = etcdserver: invalid downgrade target version"}\n'
    'Error: etcdserver: invalid downgrade target version\n')
ERR_IN_PROGRESS = (
    '{"level":"warn","ts":"2026-11-23T21:34:02.903063Z","logger":"etcd-client","caller":"v3@v3.7.3/retry_interceptor.go:68",'
    '"msg":"retrying of unary invoker failed","method":"/etcdserverpb.Maintenance/Downgrade","attempt":0,'
    '"error":"rpc error: code = FailedPrecondition desc = etcdserver: cluster has a downgrade job in progress"}\n'
    'Error: etcdserver: cluster has a downgrade job in progress\n')
# `etcdctl downgrade validate 3.6 -w json` (3.7.3), the cluster version in "version".
DOWNGRADE_RESPONSE = ('{"header":{"cluster_id":10306528224151774436,"member_id":4649962009431823240,"revision":1,'
                      '"raft_term":2},"version":"3.7"}\n')


@pytest.mark.parametrize("msg,kind", [
    (ERR_INVALID_TARGET, "invalid_downgrade_target"),
    ("Error: etcdserver: wrong downgrade target version format", "invalid_downgrade_target"),
    (ERR_IN_PROGRESS, "downgrade_in_progress"),
    ("Error: etcdserver: no inflight downgrade job", "no_downgrade_job"),
    ('Error: unknown command "downgrade" for "etcdctl"', "downgrade_unsupported"),
])
def test_downgrade_errors_classified(msg, kind):
    err = u.EtcdError("downgrade enable", 1, "", msg)
    assert err.kind == kind and not err.retryable
    # The client's retry log line is left out of the message.
    assert err.message.startswith("Error: ") and "retrying" not in err.message


@pytest.mark.parametrize("version", ["3.6.16", "3.7.3"])
@pytest.mark.parametrize("name", ["err_member_not_found.txt", "err_peer_url_exists.txt"])
def test_etcdctl_api_warning_left_out_of_messages(version, name):
    """The 3.6+ fixtures were captured with ETCDCTL_API=3 set: etcdctl warned about it."""
    raw = fixture(version, name)
    assert "unrecognized environment variable" in raw
    err = u.EtcdError("member add", 1, "", raw)
    assert "ETCDCTL_API" not in err.message and "ETCDCTL_API" not in str(err)
    assert err.kind == u.classify(raw) != "unknown"


def test_fatal_log_lines_stay_in_the_message():
    err = u.EtcdError("endpoint health", 1, "", fixture("3.6.16", "err_env_flag_conflict.txt"))
    assert err.kind == "env_conflict" and "conflicting environment variable" in err.message


def test_etcdctl_api_is_never_passed_on(monkeypatch):
    """3.4+ etcdctl use the v3 API by default; 3.6+ warn about the variable."""
    monkeypatch.setenv("ETCDCTL_API", "3")
    mod = FakeModule([(0, fixture("3.7.3", "alarm_list.json"), "")])
    u.EtcdCtl(mod).alarms()
    assert "ETCDCTL_API" not in mod.calls[-1][1]
    import os
    assert "ETCDCTL_API" not in os.environ


@pytest.mark.parametrize("version,storage,downgrade", [
    ("3.4.23", None, None),
    ("3.5.30", None, None),
    ("3.6.16", "3.6.0", dict(enabled=False, target=None)),
    ("3.7.3", "3.7.0", dict(enabled=False, target=None)),
])
def test_endpoint_status_storage_version_and_downgrade_info(version, storage, downgrade):
    mod = FakeModule([(0, fixture(version, "endpoint_status.json"), "")])
    st = u.EtcdCtl(mod).endpoint_status(["http://127.0.0.1:23791"])[0]
    assert st["storage_version"] == storage and st["downgrade"] == downgrade


def test_endpoint_status_during_a_downgrade():
    mod = FakeModule([(0, fixture("3.7.3", "endpoint_status_downgrade_enabled.json"), "")])
    sts = u.EtcdCtl(mod).endpoint_status(["http://127.0.0.1:24791"])
    assert [s["downgrade"] for s in sts] == [dict(enabled=True, target="3.6.0")] * 3
    assert [s["storage_version"] for s in sts] == ["3.7.0"] * 3  # not migrated yet


@pytest.mark.parametrize("action,target", [("validate", "3.6"), ("enable", "3.6"), ("cancel", None)])
def test_downgrade_commands(action, target):
    mod = FakeModule([(0, fixture("3.7.3", "version.txt"), ""), (0, DOWNGRADE_RESPONSE, "")])
    ctl = u.EtcdCtl(mod)
    assert ctl.downgrade(action, target) == "3.7"
    argv, env = mod.calls[-1]
    assert argv == ["/usr/local/bin/etcdctl", "downgrade", action] + ([target] if target else []) + ["-w", "json"]
    assert "ETCDCTL_API" not in env and env["ETCDCTL_ENDPOINTS"] == "https://127.0.0.1:2379"


def test_downgrade_refused_by_a_35_etcdctl():
    mod = FakeModule([(0, fixture("3.5.30", "version.txt"), "")])
    with pytest.raises(u.Refused, match="no downgrade command"):
        u.EtcdCtl(mod).downgrade_enable("3.6")
    assert len(mod.calls) == 1  # only `etcdctl version`


def test_downgrade_error_raises_with_its_kind():
    mod = FakeModule([(0, fixture("3.7.3", "version.txt"), ""), (1, "", ERR_IN_PROGRESS)])
    with pytest.raises(u.EtcdError) as exc:
        u.EtcdCtl(mod).downgrade_enable("3.6")
    assert exc.value.kind == "downgrade_in_progress"
    assert exc.value.message == "Error: etcdserver: cluster has a downgrade job in progress"


class FakeResponse:
    def __init__(self, body):
        self.body = body

    def read(self):
        return self.body


@pytest.mark.parametrize("body,expected", [
    # /version of 3.7.3 during a downgrade to 3.6, of 3.5, and of a member that
    # has not decided the cluster version yet.
    ('{"etcdserver":"3.7.3","etcdcluster":"3.6.0","storage":"3.6.0"}', ("3.7.3", "3.6.0", "3.6.0")),
    ('{"etcdserver":"3.5.35","etcdcluster":"3.5.0"}', ("3.5.35", "3.5.0", None)),
    ('{"etcdserver":"3.6.16","etcdcluster":"not_decided","storage":"unknown"}', ("3.6.16", None, None)),
])
def test_served_versions(monkeypatch, body, expected):
    seen = {}

    def fake_open_url(url, **kw):
        seen.update(kw, url=url)
        return FakeResponse(body)

    monkeypatch.setattr(u, "open_url", fake_open_url)
    got = u.EtcdCtl(FakeModule([])).served_versions("https://10.0.0.1:2379")
    assert (got["server"], got["cluster"], got["storage"]) == expected and got["error"] is None
    assert seen["url"] == "https://10.0.0.1:2379/version"
    assert seen["ca_path"] == "/pki/ca.crt" and seen["client_cert"] == "/pki/admin.crt"
    assert seen["client_key"] == "/pki/admin.key" and seen["timeout"] == 15


def test_served_versions_never_raises(monkeypatch):
    def refused(url, **kw):
        raise OSError("connection refused")

    monkeypatch.setattr(u, "open_url", refused)
    got = u.EtcdCtl(FakeModule([])).served_versions("10.0.0.1:2379")
    assert got["server"] is None and "https://10.0.0.1:2379/version" in got["error"]


def test_version_view_joins_status_and_served_versions(monkeypatch):
    served = {
        "http://127.0.0.1:24791": '{"etcdserver":"3.6.16","etcdcluster":"3.6.0","storage":"3.6.0"}',
        "http://127.0.0.1:24792": '{"etcdserver":"3.7.3","etcdcluster":"3.6.0","storage":"3.6.0"}',
        "http://127.0.0.1:24793": '{"etcdserver":"3.7.3","etcdcluster":"3.6.0","storage":"3.6.0"}',
    }
    monkeypatch.setattr(u, "open_url", lambda url, **kw: FakeResponse(served[url[:-len("/version")]]))
    mod = FakeModule([(0, fixture("3.7.3", "endpoint_status_downgrade_mixed.json"), "")])
    members = [dict(id=i, id_hex="%x" % i, name=n, client_urls=[url], peer_urls=[], is_learner=False, started=True)
               for i, n, url in [(4649962009431823240, "m1", "http://127.0.0.1:24791"),
                                 (17471517224004945404, "m2", "http://127.0.0.1:24792"),
                                 (10585371219325149716, "m3", "http://127.0.0.1:24793")]]
    view = u.EtcdCtl(mod).version_view(members)
    by = {m["name"]: m for m in view["members"]}
    assert by["m1"]["server_version"] == "3.6.16" and by["m2"]["server_version"] == "3.7.3"
    assert by["m3"]["is_leader"] and not by["m1"]["is_leader"]
    assert all(m["storage_version"] == "3.6.0" and m["cluster_version"] == "3.6.0" for m in by.values())
    assert all(m["downgrade"] == dict(enabled=True, target="3.6.0") for m in by.values())


def test_versions_and_durations():
    assert u.minor_of("3.6.16") == (3, 6) and u.minor_of("3.6") == (3, 6)
    assert u.minor_of("v3.6.0-alpha.0") == (3, 6) and u.minor_of("3") is None and u.minor_of(None) is None
    assert u.seconds("5s") == 5 and u.seconds("1m") == 60 and u.seconds("500ms") == 0.5 and u.seconds("x") == 15


# What `etcdutl check v2store` printed (stdout, stderr, rc) on a data dir of
# etcd 3.4.23 that answered three `GET /health` (v2 QGETs through raft) and
# on the same data after one start of 3.5.35 with --snapshot-count=1.
V2STORE_OUTPUTS = [
    ("3.5.35 dirty", (1, "", "Error: detected custom v2 content in WAL records\n"), "wal"),
    ("3.5.35 after a snapshot", (0, "No custom content found in both v2store and WAL records.\n", ""), "clean"),
    # 3.5.30 reads the v2 snapshot only: the same dirty data looks clean.
    ("3.5.30 dirty", (0, "No custom content found in v2store.\n", ""), "clean"),
    ("3.5.16", (1, "", 'Error: unknown command "check" for "etcdutl"\nRun \'etcdutl --help\' for usage.\n'),
     "unsupported"),
    ("both", (1, "", "Error: detected custom v2 content in both v2store and WAL records\n"), "both"),
    ("store", (1, "", "Error: detected custom content in v2store\n"), "store"),
]


@pytest.mark.parametrize("name,answer,kind", V2STORE_OUTPUTS, ids=[o[0] for o in V2STORE_OUTPUTS])
def test_check_v2store_classified(name, answer, kind):
    mod = FakeModule([(0, "etcdctl version: 3.5.35\nAPI version: 3.5\n", ""), answer])
    assert u.EtcdCtl(mod).check_v2store("/var/lib/etcd/.x")[0] == kind
    assert mod.calls[-1][0] == ["/usr/local/bin/etcdutl", "check", "v2store", "--data-dir", "/var/lib/etcd/.x"]


def test_check_v2store_unknown_output_fails():
    mod = FakeModule([(0, "etcdctl version: 3.5.35\n", ""), (2, "", "Error: open /x: permission denied\n")])
    with pytest.raises(u.EtcdError):
        u.EtcdCtl(mod).check_v2store("/x")
